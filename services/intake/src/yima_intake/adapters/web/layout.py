"""The frame of the applicant's pages: one style sheet, the page shell, escaping, error lists, the QR image and the
form reader. Chinese, mobile-first, large text, plain HTML forms: no JavaScript at all."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse

MAX_FORM_BYTES = 64 * 1024

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:20px;
line-height:1.6;color:#1a1a1a;background:#f4f6f8}
header{background:#b71c1c;color:#fff;padding:14px 18px}
header a{color:#fff;text-decoration:none;font-size:24px;font-weight:bold}
main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:26px;margin:8px 0 16px}
.card{background:#fff;border-radius:10px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:bold;margin:14px 0 6px}
.hint{font-weight:normal;color:#555;font-size:17px}
input[type=text],input[type=tel],textarea,select{width:100%;font-size:20px;padding:12px;border:2px solid #888;
border-radius:8px;background:#fff}
textarea{min-height:160px}
input:focus,textarea:focus,select:focus{outline:3px solid #1565c0;border-color:#1565c0}
.check{display:flex;gap:10px;align-items:flex-start;font-weight:normal}
.check input{width:28px;height:28px;flex:none;margin-top:4px}
button,.button{display:block;width:100%;font-size:22px;padding:14px;margin-top:20px;border:0;border-radius:10px;
background:#b71c1c;color:#fff;font-weight:bold;text-align:center;text-decoration:none}
.button.secondary{background:#455a64}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.errors li{margin:4px 0}
.code{font-size:34px;font-weight:bold;letter-spacing:3px;font-family:monospace;text-align:center;
background:#fff8e1;border:2px dashed #f9a825;border-radius:8px;padding:12px;margin:10px 0}
.qr{text-align:center}.qr img{width:240px;height:240px}
.unit{background:#e3f2fd;border-radius:8px;padding:10px}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:4px solid #b71c1c;padding:6px 0 12px 14px;margin-left:6px}
.time{color:#555;font-size:17px}
.next{background:#e8f5e9;border-radius:8px;padding:10px;margin-top:10px}
.stars{display:flex;flex-wrap:wrap;gap:8px}
.stars label{font-weight:normal;border:2px solid #888;border-radius:8px;padding:8px 12px;margin:0;display:flex;
gap:6px;align-items:center}
.stars input{width:24px;height:24px}
ul.messages{list-style:none;padding:0;margin:0}
ul.messages li{border-bottom:1px solid #ddd;padding:10px 0}
ul.messages li:last-child{border-bottom:0}
h2{font-size:22px;margin:0 0 10px}
footer{text-align:center;color:#666;font-size:16px;padding:20px}
"""


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · 一码解纠纷</title><style>{CSS}</style></head>
<body><header><a href="/">一码解纠纷</a></header><main>{body}</main>
<footer>有困难请到社区服务中心窗口，工作人员可以代办</footer></body></html>"""
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def error_list(errors: Iterable[str]) -> str:
    items = "".join(f"<li>{esc(e)}</li>" for e in errors)
    return f'<div class="errors" role="alert"><strong>请修改以下内容：</strong><ul>{items}</ul></div>' if items else ""


def qr_data_uri(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def read_form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}
