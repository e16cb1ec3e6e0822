"""The console's page kit: the frame with the navigation of the signed-in person's role, CSS, form helpers,
the session's CSRF token. Pages are server-rendered Chinese HTML with plain forms; the only script is the
supervision list's refresh (pages/supervise.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import quote as _quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, Category, RiskLevel
from yima_kit.auth import StaffClaims

SHANGHAI = ZoneInfo("Asia/Shanghai")
COOKIE = "yima_console"
PREFIX = "/console"
MAX_FORM_BYTES = 64 * 1024
ROLE_ZH = {"admin": "管理员", "dispatcher": "分流员", "leader": "分包领导", "mediator": "调解员", "analyst": "考核",
           "grid_worker": "网格员"}
ROLE_REFUSED = "当前岗位无权进行此操作"
STALE_FORM = "页面已失效（缺少安全校验码），请刷新页面后重新提交"

# One navigation, by role: (path, label, roles)
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/dispatch", "分流", ("dispatcher", "admin")),
    ("/supervise", "督办", ("dispatcher", "leader", "admin")),
    ("/leader", "我的红色案件", ("leader",)),
    ("/joint", "吹哨报到", ("dispatcher", "leader", "mediator", "admin")),
    ("/queue", "调解待办", ("dispatcher", "leader", "mediator", "admin")),
    ("/people", "调解员与专家", ("dispatcher", "leader", "mediator", "admin")),
    ("/insurance", "保险理赔", ("dispatcher", "leader", "mediator", "admin")),
    ("/analyst", "考核一张表", ("analyst", "admin", "leader")),
    ("/admin", "系统管理", ("admin",)),
    ("/walkin", "网格上报", ("grid_worker",)),
    ("/inbox", "消息", ("dispatcher", "leader", "mediator", "admin", "analyst", "grid_worker")),
    ("/password", "修改密码", ("dispatcher", "leader", "mediator", "admin", "analyst", "grid_worker")),
)
HOME = {"dispatcher": "/dispatch", "leader": "/leader", "admin": "/admin", "analyst": "/analyst",
        "mediator": "/queue", "grid_worker": "/walkin"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei","WenQuanYi Zen Hei",sans-serif;
font-size:17px;line-height:1.55;color:#1a1a1a;background:#f4f6f8}
header{background:#0d47a1;color:#fff;padding:8px 14px;display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:bold;white-space:nowrap}
header a.on{text-decoration:underline}
header .brand{font-size:20px;margin-right:8px}header .who{margin-left:auto;font-size:15px}
header form{display:inline}header button{width:auto;margin:0;padding:4px 10px;font-size:15px;background:#1565c0}
main{max-width:1340px;margin:0 auto;padding:12px}
h1{font-size:23px;margin:6px 0 12px}h2{font-size:19px;margin:4px 0 8px}
.card{background:#fff;border-radius:8px;padding:12px;margin-bottom:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:bold;margin:8px 0 3px}
.hint{font-weight:normal;color:#555;font-size:14px}
input[type=text],input[type=tel],input[type=password],input[type=date],input[type=time],input[type=number],
textarea,select{width:100%;font-size:17px;padding:7px;border:2px solid #888;border-radius:6px;background:#fff}
textarea{min-height:90px}textarea.code{font-family:monospace;font-size:13px;min-height:320px}
input:focus,textarea:focus,select:focus{outline:3px solid #1565c0;border-color:#1565c0}
.row{display:flex;flex-wrap:wrap;gap:10px}.row>div{flex:1;min-width:140px}
.check{display:inline-flex;gap:6px;align-items:center;font-weight:normal;margin-right:14px}
.check input{width:20px;height:20px}
button,.button{display:inline-block;font-size:17px;padding:7px 16px;margin-top:10px;border:0;border-radius:6px;
background:#0d47a1;color:#fff;font-weight:bold;text-decoration:none;cursor:pointer}
button.small,.button.small{font-size:14px;padding:3px 9px;margin:2px 0}
button.danger{background:#b71c1c}.button.secondary,button.secondary{background:#455a64}
.scroll{overflow-x:auto}
table{width:100%;border-collapse:collapse;font-size:15px}th,td{text-align:left;padding:5px 6px;
border-bottom:1px solid #ddd;vertical-align:top}th{background:#e3f2fd;white-space:nowrap}
th a{color:#0d47a1}
tr.overdue td{background:#ffebee}tr.overdue td.due{color:#b71c1c;font-weight:bold}
.red{color:#b71c1c;font-weight:bold}.yellow{color:#9a6700;font-weight:bold}.blue{color:#0d47a1}
.tag{display:inline-block;border-radius:5px;padding:0 6px;font-size:13px;margin:1px 2px;border:1px solid #999}
.tag.over{background:#b71c1c;color:#fff;border-color:#b71c1c}.tag.paused{background:#eceff1}
.tag.new{background:#e8f5e9;border-color:#2e7d32}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:6px;padding:8px 12px;margin-bottom:10px}
.ok{background:#e8f5e9;border:2px solid #2e7d32;border-radius:6px;padding:8px 12px;margin-bottom:10px}
.state{display:inline-block;background:#fff8e1;border:2px solid #f9a825;border-radius:6px;padding:0 8px}
.tabs a{margin-right:12px}.tabs a.on{font-weight:bold;text-decoration:underline}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end}.filters>div{min-width:120px}
.filters button{margin-top:0}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:4px solid #0d47a1;padding:4px 0 8px 10px;margin-left:6px}
.time{color:#555;font-size:14px}
.badge{display:inline-block;background:#ffb300;color:#1a1a1a;border-radius:12px;padding:0 7px;margin-left:3px;
font-size:14px}
tr.unread td{font-weight:bold;background:#fffde7}
details{margin-top:6px}summary{font-weight:bold;cursor:pointer;color:#0d47a1}
.pager a{margin:0 6px}
iframe.dash{width:100%;height:70vh;border:1px solid #ccc;border-radius:6px;background:#fff}
@media (max-width:700px){body{font-size:16px}main{padding:6px}header .who{margin-left:0}
table.cards tr{display:block;border-bottom:2px solid #ccc;padding:4px 0}table.cards th{display:none}
table.cards td{display:block;border:0;padding:1px 4px}table.cards td[data-l]::before{content:attr(data-l) "：";
color:#555;font-size:14px}}
"""


class Staff(StaffClaims):
    """The signed-in person's claims, the session's CSRF token for forms, and the token the console passes on
    to the services (never shown, logged or dumped)."""

    csrf: str = ""
    token: str = Field(default="", exclude=True, repr=False)


def seg(v: str) -> str:
    """One path segment: every character that could change the path ("/", "..", "?") is escaped."""
    return _quote(v, safe="")


def table(heads: Sequence[str | tuple[str, str]], rows: Iterable[Sequence[str]], *, tid: str = "",
          cards: bool = True, empty: str = "") -> str:
    """The pages' one table: ``heads`` are column titles, or (title, label) where a phone shows the row as a card
    with each cell after its label ("" = no label); ``rows`` are cells of HTML already escaped. No rows:
    ``empty`` as a paragraph (or the empty table when ``empty`` is "")."""
    cols = [h if isinstance(h, tuple) else (h, h) for h in heads]
    body = "".join("<tr>" + "".join(f'<td data-l="{esc(label)}">{cell}</td>' if label and cards else f"<td>{cell}</td>"
                                    for (_, label), cell in zip(cols, row, strict=True)) + "</tr>" for row in rows)
    if not body and empty:
        return f"<p>{esc(empty)}</p>"
    attrs = (f' id="{esc(tid)}"' if tid else "") + (' class="cards"' if cards else "")
    return f"<table{attrs}><tr>" + "".join(f"<th>{esc(t)}</th>" for t, _ in cols) + f"</tr>{body}</table>"


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def as_dt(v: Any) -> datetime | None:
    """A datetime from the APIs' JSON (ISO text; naive = UTC, as the stores keep it)."""
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, str) and v:
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def local(v: Any) -> str:
    dt = as_dt(v)
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


def category_zh(v: Any) -> str:
    try:
        return CATEGORY_NAMES_ZH[Category(v)]
    except ValueError:
        return str(v or "")


def risk_zh(v: Any) -> str:
    try:
        return RISK_LEVEL_NAMES_ZH[RiskLevel(v)] + "色"
    except ValueError:
        return str(v or "")


def risk_html(v: Any) -> str:
    return f'<span class="{esc(v)}">{esc(risk_zh(v))}</span>'


def messages(errors: Iterable[str], css: str = "errors") -> str:
    items = "".join(f"<li>{esc(e)}</li>" for e in errors if e)
    return f'<div class="{css}" role="alert"><ul>{items}</ul></div>' if items else ""


def ok_message(ok: str, texts: dict[str, str]) -> str:
    return messages([texts[ok]], "ok") if ok in texts else ""


def options(pairs: Iterable[tuple[str, str]], selected: str = "") -> str:
    return "".join(f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>'
                   for v, t in pairs)


def token_payload(token: str) -> dict[str, Any]:
    """A token's claims as written, unverified (only to key the CSRF token; {} for anything else)."""
    try:
        part = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def csrf_of(token: str) -> str:
    """The session's CSRF token: a MAC keyed by the session id that the token carries (neither page scripts nor
    other sites can read the HttpOnly cookie), so that it stays the same when the token is refreshed; a token
    without a session id keys it itself."""
    sid = str(token_payload(token).get("sid") or "")
    key = f"sid:{sid}" if len(sid) >= 16 else token
    return hmac.new(key.encode(), b"yima-console-csrf", hashlib.sha256).hexdigest()[:32]


def csrf_field(claims: StaffClaims) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(getattr(claims, "csrf", ""))}">'


def form(action: str, claims: StaffClaims, inner: str, button: str, bid: str, *, danger: bool = False,
         small: bool = False, sure: str = "") -> str:
    cls = " ".join(c for c in ("danger" if danger else "", "small" if small else "") if c)
    if sure:
        inner += f'<label class="check"><input type="checkbox" name="sure" value="1" required>{esc(sure)}</label>'
    return (f'<form method="post" action="{esc(PREFIX + action)}" accept-charset="utf-8">{csrf_field(claims)}'
            f'{inner}<button type="submit" id="{esc(bid)}"{f" class={cls!r}" if cls else ""}>{esc(button)}</button>'
            "</form>")


async def read_form(request: Request) -> dict[str, list[str]]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return {}


def one(f: dict[str, list[str]], key: str) -> str:
    return (f.get(key) or [""])[0].strip()


def csrf_ok(request: Request, f: dict[str, list[str]]) -> bool:
    return hmac.compare_digest(one(f, "csrf"), csrf_of(request.cookies.get(COOKIE, "")))


def nav_html(claims: StaffClaims, here: str, unread: int | None) -> str:
    links = []
    for path, label, roles in NAV:
        if claims.role not in roles or claims.pwc:  # the password first: no page but that one would open
            continue
        badge = f'<span class="badge" id="unread">{unread}</span>' if path == "/inbox" and unread else ""
        on = ' class="on"' if here == path else ""
        links.append(f'<a href="{PREFIX}{path}" id="nav-{path.strip("/")}"{on}>{esc(label)}{badge}</a>')
    return ("".join(links)
            + f'<span class="who">{esc(claims.name or claims.sub)}（{esc(ROLE_ZH.get(claims.role, claims.role))}，'
            f'{esc(claims.unit)}）</span><form method="post" action="{PREFIX}/logout" accept-charset="utf-8">'
            f'{csrf_field(claims)}<button type="submit" id="logout">退出</button></form>')


def page(title: str, body: str, claims: StaffClaims | None = None, status: int = 200, *, here: str = "",
         unread: int | None = None, script: str = "") -> HTMLResponse:
    nav = nav_html(claims, here, unread) if claims is not None else ""
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · 工作台</title><style>{CSS}</style></head>
<body><header><a class="brand" href="{PREFIX}">一码解纠纷 · 工作台</a>{nav}</header>
<main>{body}</main>{script}</body></html>"""
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})
