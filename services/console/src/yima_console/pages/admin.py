"""管理员 (admin): routing's rules with their history, a dry run over last month's cases before publishing;
staff accounts (create or change, deactivate, reset a password, enrol TOTP) and units (routing's admin API,
each change versioned there); the unit's notification contacts and failed deliveries (notify's API).
考核 (analyst): read-only, insight's one table and a link to its dashboard."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as _quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api import ApiError
from ..ui import (
    PREFIX,
    ROLE_ZH,
    STALE_FORM,
    Staff,
    csrf_ok,
    esc,
    form,
    local,
    messages,
    ok_message,
    one,
    options,
    read_form,
)
from ..web import Web


def quote(v: str) -> str:
    """One path segment: every character that could change the path ("/", "..", "?") is escaped."""
    return _quote(v, safe="")

ADMIN = ("admin",)
TABS = {"rules": "分流规则", "staff": "人员账号", "units": "单位", "contacts": "接收渠道", "failures": "发送失败"}
OK_ZH = {"rules": "新版分流规则已发布", "staff": "人员信息已保存", "password": "已重置初始密码（对方首次登录须修改）",
         "unit": "单位信息已保存", "contacts": "接收渠道已保存"}
MFA_HINT = "管理操作须用动态口令登录：请退出后填写动态口令重新登录"


def tabs_html(tab: str) -> str:
    return ('<div class="card tabs">' + "".join(
        f'<a href="{PREFIX}/admin?tab={k}" id="tab-{k}"{" class=on" if k == tab else ""}>{esc(v)}</a>'
        for k, v in TABS.items()) + "</div>")


def dry_run_html(d: dict[str, Any]) -> str:
    rows = "".join(f'<tr><td>{esc(x["case_number"])}</td><td>{esc(x["from_unit_name"])}<div class="hint">'
                   f'{esc(x["from_rule"])}</div></td><td>{esc(x["to_unit_name"])}<div class="hint">{esc(x["to_rule"])}'
                   f'</div></td></tr>' for x in d.get("examples", [])[:50])
    return (f'<div class="card" id="dry-run"><h2>试运行结果</h2><p>近{esc(d.get("days"))}天登记的 '
            f'<strong>{esc(d.get("cases"))}</strong> 件案件中，新规则（{esc(d.get("tried_version"))}）'
            f'会改变 <strong id="dry-changed">{esc(d.get("changed"))}</strong> 件的承办单位或期限（现行：'
            f'{esc(d.get("active_version"))}）。</p>'
            + (f'<div class="scroll"><table><tr><th>案件编号</th><th>现行规则分派给</th><th>新规则分派给</th></tr>{rows}'
               "</table></div>" if rows else "") + "</div>")


def router(web: Web) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def rules_tab(claims: Staff, kept: str = "", dry: dict[str, Any] | None = None) -> tuple[str, list[str]]:
        errors: list[str] = []
        try:
            data = await web.call(claims, "routing", "GET", "/api/v1/admin/rules")
        except ApiError as exc:
            return "", [exc.message]
        text = kept or json.dumps(data.get("active", {}), ensure_ascii=False, indent=2)
        versions = "".join(f"<li>{esc(v.get('version'))} · {esc(local(v.get('activated_at') or v.get('at')))} · "
                           f"{esc(v.get('by'))}：{esc(v.get('reason'))}</li>" for v in reversed(data.get("versions", [])))
        inner = f"""<label for="rules-json">规则（JSON，与 routing_rules.yaml 同样的结构；发布前请改用新的版本号 version）</label>
<textarea class="code" id="rules-json" name="rules" maxlength="60000">{esc(text)}</textarea>
<div class="row"><div><label for="dry-days">试运行：近多少天的案件</label>
<input type="number" id="dry-days" name="days" value="30" min="1" max="366"></div>
<div><label for="rules-reason">发布理由 <span class="hint">（发布时必填）</span></label>
<input type="text" id="rules-reason" name="reason" maxlength="300"></div></div>
<button type="submit" name="do" value="dry" id="dry-run-button" class="secondary">试运行</button> """
        publish_ok = dry is not None
        inner += ('<label class="check"><input type="checkbox" name="sure" value="1" id="rules-sure">我已看过试运行结果，'
                  '确认发布</label><button type="submit" name="do" value="publish" id="publish">发布新规则</button>'
                  if publish_ok else '<p class="hint">先试运行，看过影响后才能发布。</p>')
        body = (("" if claims.mfa else messages([MFA_HINT]))
                + (dry_run_html(dry) if dry else "")
                + '<div class="card">' + form("/admin/rules", claims, inner, "", "rules-form").replace(
                    '<button type="submit" id="rules-form"></button>', "")
                + f'</div><div class="card"><h2>历史版本</h2><ol id="rule-versions">{versions}</ol></div>')
        return body, errors

    async def staff_tab(claims: Staff, sid: str) -> tuple[str, list[str]]:
        errors: list[str] = []
        current: dict[str, Any] = {}
        hist_html = ""
        if sid:
            try:
                hist = (await web.call(claims, "routing", "GET", f"/api/v1/admin/history/{quote(sid)}")).get(
                    "changes", [])
                current = (hist[-1].get("after") or {}) if hist else {}
                hist_html = "".join(f"<li>v{esc(h.get('version'))} {esc(local(h.get('at')))} {esc(h.get('actor'))}："
                                    f"{esc(h.get('reason'))}</li>" for h in hist)
            except ApiError as exc:
                errors.append(exc.message)
        look = f"""<form method="get" action="{PREFIX}/admin" class="filters"><input type="hidden" name="tab" value="staff">
<div><label for="sid">人员编号（登录账号）</label><input type="text" id="sid" name="sid" value="{esc(sid)}" maxlength="64">
</div><div><button type="submit" id="find-staff">查找</button></div></form>"""
        edit = f"""<input type="hidden" name="staff_id" value="{esc(sid)}">
<div class="row"><div><label for="s-id">人员编号</label><input type="text" id="s-id" name="new_id" maxlength="64"
 value="{esc(sid)}"></div><div><label for="s-name">姓名</label><input type="text" id="s-name" name="name" maxlength="50"
 value="{esc(current.get("name", ""))}"></div><div><label for="s-unit">所属单位代码</label><input type="text" id="s-unit"
 name="unit" maxlength="64" value="{esc(current.get("unit", claims.unit))}"></div><div><label for="s-role">岗位</label>
<select id="s-role" name="role">{options(ROLE_ZH.items(), str(current.get("role", "")))}</select></div></div>
<label class="check"><input type="checkbox" name="active" value="1"{" checked" if current.get("active", True) else ""}>
在岗（取消勾选即停用账号）</label><label for="s-reason">变更理由</label>
<input type="text" id="s-reason" name="reason" maxlength="300" required>"""
        actions = ""
        if sid:
            actions = ('<div class="row"><div>' + form("/admin/staff/password", claims, f"""
<input type="hidden" name="staff_id" value="{esc(sid)}"><label for="s-pw">重置初始密码 <span class="hint">（对方首次登录须修改）
</span></label><input type="password" id="s-pw" name="password" maxlength="128" autocomplete="new-password" required>""",
                                                      "重置密码", "reset-password")
                       + "</div><div>" + form("/admin/staff/totp", claims,
                                              f'<input type="hidden" name="staff_id" value="{esc(sid)}">'
                                              '<p>绑定动态口令：生成新的密钥，原密钥立即失效。</p>',
                                              "绑定/重置动态口令", "enrol-totp") + "</div></div>")
        body = (("" if claims.mfa else messages([MFA_HINT]))
                + f'<div class="card">{look}</div><div class="card"><h2>{"修改" if current else "新增"}人员</h2>'
                + form("/admin/staff", claims, edit, "保存", "save-staff") + actions
                + (f"<h2>变更历史</h2><ol>{hist_html}</ol>" if hist_html else "") + "</div>")
        return body, errors

    def units_tab(claims: Staff, units: dict[str, dict[str, Any]]) -> str:
        below = sorted((u for u in units.values() if u.get("parent") == claims.unit), key=lambda u: str(u.get("code")))
        rows = "".join(f"<tr><td>{esc(u.get('code'))}</td><td>{esc(u.get('name'))}</td><td>{esc(u.get('kind'))}</td>"
                       f"<td>{'在用' if u.get('active', True) else '停用'}</td></tr>" for u in below[:300])
        mine = units.get(claims.unit, {})
        inner = f"""<div class="row"><div><label for="u-code">单位代码</label><input type="text" id="u-code" name="code"
 maxlength="64" required></div><div><label for="u-name">名称</label><input type="text" id="u-name" name="name"
 maxlength="100" required></div><div><label for="u-kind">类型</label><select id="u-kind" name="kind">
{options([("community", "社区"), ("grid", "网格"), ("street", "街道"), ("department", "部门"), ("committee", "调委会"),
          ("court_centre", "诉调中心"), ("district", "区")])}</select></div>
<div><label for="u-parent">上级单位代码</label><input type="text" id="u-parent" name="parent" maxlength="64"
 value="{esc(claims.unit)}"></div></div><label class="check"><input type="checkbox" name="active" value="1" checked>在用
</label><label for="u-reason">变更理由</label><input type="text" id="u-reason" name="reason" maxlength="300" required>"""
        return (f'<div class="card"><h2>{esc(mine.get("name", claims.unit))}的下级单位</h2><div class="scroll"><table>'
                f"<tr><th>代码</th><th>名称</th><th>类型</th><th>状态</th></tr>{rows}</table></div></div>"
                f'<div class="card"><h2>新增或修改单位</h2>{form("/admin/units", claims, inner, "保存", "save-unit")}</div>')

    async def failures_tab(claims: Staff) -> tuple[str, list[str]]:
        try:
            items = (await web.call(claims, "notify", "GET", "/api/v1/failures")).get("failures", [])
        except ApiError as exc:
            return "", [exc.message]
        rows = "".join(f"<tr><td>{esc(local(x.get('failed_at')))}</td><td>{esc(x.get('case_number'))}</td>"
                       f"<td>{esc(x.get('channel'))}</td><td>{esc(x.get('recipient_kind'))}</td>"
                       f"<td>{esc(x.get('attempts'))}</td><td>{esc(x.get('error'))}</td>"
                       f"<td>{esc((x.get('fallback') or {}).get('state') or '')}</td></tr>" for x in items)
        return ('<div class="card scroll"><h2>最终发送失败的通知</h2>'
                + (f'<table id="failures"><tr><th>时间</th><th>案件</th><th>渠道</th><th>接收方</th><th>尝试次数</th>'
                   f"<th>原因</th><th>改发短信</th></tr>{rows}</table>" if rows else "<p>没有发送失败的通知。</p>")
                + "</div>"), []

    def contacts_tab(claims: Staff) -> str:
        inner = """<label for="c-webhook">系统对接地址（webhook，https://…）</label>
<input type="text" id="c-webhook" name="webhook_url" maxlength="500">
<label for="c-email">值班邮箱</label><input type="text" id="c-email" name="email" maxlength="200">
<label for="c-wechat">值班人员微信 openid</label><input type="text" id="c-wechat" name="wechat_openid" maxlength="64">"""
        return (f'<div class="card"><h2>本单位（{esc(claims.unit)}）接收交办通知的渠道</h2>'
                '<p class="hint">保存即覆盖原设置；留空的渠道不再使用。</p>'
                + form("/admin/contacts", claims, inner, "保存", "save-contacts") + "</div>")

    async def admin_page(claims: Staff, tab: str, errors: list[str], *, ok: str = "", status: int = 200,
                         sid: str = "", kept: str = "", dry: dict[str, Any] | None = None,
                         notice: str = "") -> HTMLResponse:
        tab = tab if tab in TABS else "rules"
        if tab == "rules":
            inner, more = await rules_tab(claims, kept, dry)
        elif tab == "staff":
            inner, more = await staff_tab(claims, sid)
        elif tab == "units":
            inner, more = units_tab(claims, await web.units()), []
        elif tab == "failures":
            inner, more = await failures_tab(claims)
        else:
            inner, more = contacts_tab(claims), []
        body = (f"<h1>系统管理 · {esc(TABS[tab])}</h1>{tabs_html(tab)}{messages([*errors, *more])}"
                f"{ok_message(ok, OK_ZH)}{notice}{inner}")
        return await web.show("系统管理", body, claims, here="/admin", status=status)

    @r.get("/admin", response_class=HTMLResponse)
    async def admin_get(request: Request, tab: str = "rules", ok: str = "", sid: str = "") -> Response:
        claims = web.staff(request, ADMIN)
        if not isinstance(claims, Staff):
            return claims
        return await admin_page(claims, tab[:10], [], ok=ok[:20], sid=sid[:64])

    async def posted(request: Request) -> tuple[Staff | Response, dict[str, list[str]]]:
        claims = web.staff(request, ADMIN)
        if not isinstance(claims, Staff):
            return claims, {}
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await admin_page(claims, "rules", [STALE_FORM], status=403), {}
        return claims, f

    @r.post("/admin/rules", response_class=HTMLResponse)
    async def rules_post(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        text = (f.get("rules") or [""])[0]
        try:
            rules = json.loads(text)
            if not isinstance(rules, dict):
                raise ValueError
        except ValueError:
            return await admin_page(claims, "rules", ["规则不是有效的JSON对象，请检查括号、引号和逗号"], status=422,
                                    kept=text)
        days = one(f, "days")
        try:
            dry = await web.call(claims, "routing", "POST", "/api/v1/admin/rules/dry-run",
                                 json={"rules": rules, "days": int(days) if days.isdigit() else 30})
        except ApiError as exc:
            return await admin_page(claims, "rules", [f"试运行未通过：{exc.message}"], status=exc.status, kept=text)
        if one(f, "do") != "publish":
            return await admin_page(claims, "rules", [], kept=text, dry=dry)
        errors = []
        if one(f, "sure") != "1":
            errors.append("请先勾选“我已看过试运行结果，确认发布”")
        if len(one(f, "reason")) < 2:
            errors.append("请填写发布理由")
        if not errors:
            try:
                await web.call(claims, "routing", "PUT", "/api/v1/admin/rules",
                               json={"rules": rules, "reason": one(f, "reason")[:300]})
            except ApiError as exc:
                errors.append(f"发布未成功：{exc.message}")
        if errors:
            return await admin_page(claims, "rules", errors, status=422, kept=text, dry=dry)
        return RedirectResponse(f"{PREFIX}/admin?tab=rules&ok=rules", status_code=303)

    @r.post("/admin/staff", response_class=HTMLResponse)
    async def staff_post(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        sid = (one(f, "new_id") or one(f, "staff_id"))[:64].lower()
        body = {"name": one(f, "name"), "unit": one(f, "unit"), "role": one(f, "role"),
                "active": one(f, "active") == "1", "reason": one(f, "reason")}
        try:
            await web.call(claims, "routing", "PUT", f"/api/v1/admin/staff/{quote(sid)}", json=body)
        except ApiError as exc:
            return await admin_page(claims, "staff", [f"保存未成功：{exc.message}"], status=exc.status, sid=sid)
        return RedirectResponse(f"{PREFIX}/admin?tab=staff&ok=staff&sid={quote(sid)}", status_code=303)

    @r.post("/admin/staff/password", response_class=HTMLResponse)
    async def staff_password(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        sid = one(f, "staff_id")[:64]
        try:
            await web.call(claims, "routing", "POST", f"/api/v1/admin/staff/{quote(sid)}/password",
                           json={"password": (f.get("password") or [""])[0]})
        except ApiError as exc:
            return await admin_page(claims, "staff", [f"重置未成功：{exc.message}"], status=exc.status, sid=sid)
        return RedirectResponse(f"{PREFIX}/admin?tab=staff&ok=password&sid={quote(sid)}", status_code=303)

    @r.post("/admin/staff/totp", response_class=HTMLResponse)
    async def staff_totp(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        sid = one(f, "staff_id")[:64]
        try:
            res = await web.call(claims, "routing", "POST", f"/api/v1/admin/staff/{quote(sid)}/totp")
        except ApiError as exc:
            return await admin_page(claims, "staff", [f"绑定未成功：{exc.message}"], status=exc.status, sid=sid)
        uri = str(res.get("otpauth_uri", ""))
        notice = messages([f"已生成新的动态口令密钥。请当面把下面的地址录入对方的身份验证器（只显示这一次）：{uri}"], "ok")
        return await admin_page(claims, "staff", [], sid=sid, notice=notice)

    @r.post("/admin/units", response_class=HTMLResponse)
    async def unit_post(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        code = one(f, "code")[:64]
        body = {"name": one(f, "name"), "kind": one(f, "kind"), "parent": one(f, "parent") or None,
                "active": one(f, "active") == "1", "reason": one(f, "reason")}
        try:
            await web.call(claims, "routing", "PUT", f"/api/v1/admin/units/{quote(code)}", json=body)
        except ApiError as exc:
            return await admin_page(claims, "units", [f"保存未成功：{exc.message}"], status=exc.status)
        web.forget_units()
        return RedirectResponse(f"{PREFIX}/admin?tab=units&ok=unit", status_code=303)

    @r.post("/admin/contacts", response_class=HTMLResponse)
    async def contacts_post(request: Request) -> Response:
        claims, f = await posted(request)
        if not isinstance(claims, Staff):
            return claims
        body = {k: one(f, k) or None for k in ("webhook_url", "email", "wechat_openid")}
        try:
            await web.call(claims, "notify", "PUT", f"/api/v1/units/{quote(claims.unit)}/contacts", json=body)
        except ApiError as exc:
            return await admin_page(claims, "contacts", [f"保存未成功：{exc.message}"], status=exc.status)
        return RedirectResponse(f"{PREFIX}/admin?tab=contacts&ok=contacts", status_code=303)

    # --- 考核 / analyst: insight's one table ------------------------------------------------------------

    @r.get("/analyst", response_class=HTMLResponse)
    async def analyst(request: Request) -> Response:
        claims = web.staff(request, ("analyst", "admin", "leader"))
        if not isinstance(claims, Staff):
            return claims
        public = (web.settings.insight_public_url or web.settings.insight_url).rstrip("/")
        link = (f'<p><a class="button" href="{esc(public)}/" target="_blank" rel="noopener" id="dashboard">'
                "打开考核分析看板</a></p>")
        try:
            data = await web.call(claims, "insight", "GET", "/api/v1/table")
        except ApiError as exc:
            body = (f"<h1>考核一张表</h1>{messages([exc.message + '（考核分析服务上线后，此处显示一张表）'])}{link}")
            return await web.show("考核一张表", body, claims, here="/analyst", status=200)
        body = f"<h1>考核一张表</h1>{link}<p class='hint'>只读：数据来自考核分析服务。</p>{table_html(data)}"
        return await web.show("考核一张表", body, claims, here="/analyst")

    return r


# insight's one table (GET /api/v1/table): each row a unit (or category, month…) with these figures
INSIGHT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "单位"), ("received", "受理"), ("accepted", "已受理"), ("closed", "办结"), ("resolved", "化解"),
    ("failed", "调解不成"), ("transferred", "转出"), ("success_rate.value", "调解成功率"), ("overdue", "逾期"),
    ("supervision_notices", "督办次数"), ("satisfaction.avg", "满意度"), ("red", "红色"), ("yellow", "黄色"),
    ("blue", "蓝色"))


def _cell(row: dict[str, Any], key: str) -> Any:
    v: Any = row
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, float) and key.endswith("rate.value"):
        return f"{v * 100:.1f}%"
    return "—" if v is None or isinstance(v, dict) else v


def insight_table_html(data: dict[str, Any]) -> str:
    head = "".join(f"<th>{esc(t)}</th>" for _, t in INSIGHT_COLUMNS)
    rows = [r for r in data.get("rows", []) if isinstance(r, dict)]
    totals = data.get("totals") if isinstance(data.get("totals"), dict) else None
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(r, k))}</td>" for k, _ in INSIGHT_COLUMNS) + "</tr>"
                   for r in rows)
    if totals:
        body += ("<tr><th>合计</th>" + "".join(f"<th>{esc(_cell(totals, k))}</th>" for k, _ in INSIGHT_COLUMNS[1:])
                 + "</tr>")
    title = f"{data.get('unit_name') or ''} {data.get('from') or ''} 至 {data.get('to') or ''}"
    return (f'<div class="card scroll"><h2>{esc(title)}</h2><table id="insight-table"><tr>{head}</tr>{body}</table>'
            + ("" if rows else "<p>所选期间没有受理的案件。</p>") + "</div>")


def table_html(data: Any) -> str:
    """insight's table: its own shape (rows of figures, totals), or any {"columns", "rows"} / list of rows."""
    if isinstance(data, dict) and isinstance(data.get("rows"), list) and not data.get("columns") and all(
            isinstance(r, dict) and "received" in r for r in data["rows"]):
        return insight_table_html(data)
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return messages(["考核分析服务的答复无法识别"])
    columns = data.get("columns") if isinstance(data, dict) else None
    if not columns and rows and isinstance(rows[0], dict):
        columns = list(rows[0].keys())
    cols = [c.get("title_zh") or c.get("title") or c.get("key") if isinstance(c, dict) else str(c)
            for c in columns or []]
    keys = [c.get("key") if isinstance(c, dict) else c for c in columns or []]

    def cells(row: Any) -> list[Any]:
        if isinstance(row, dict):
            return [row.get(k) for k in keys]
        return list(row) if isinstance(row, list) else [row]

    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in cells(r)) + "</tr>" for r in rows)
    title = data.get("title_zh") or data.get("title") if isinstance(data, dict) else None
    return (f'<div class="card scroll">{f"<h2>{esc(title)}</h2>" if title else ""}<table id="insight-table">'
            f"<tr>{head}</tr>{body}</table></div>")
