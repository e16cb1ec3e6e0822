"""管理员 (admin), what each tab shows: routing's rules with their history and a dry run's result; staff accounts
(create or change, deactivate, reset a password, enrol TOTP) and units (routing's admin API, each change
versioned there); the unit's notification contacts and failed deliveries (notify's API). The forms post to
``routes.py``."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import HTMLResponse

from ...api import ApiError
from ...ui import (
    PREFIX,
    ROLE_ZH,
    Staff,
    esc,
    form,
    local,
    messages,
    ok_message,
    options,
    seg,
    table,
)
from ...web import Web

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
    rows = [[esc(x["case_number"]), f'{esc(x["from_unit_name"])}<div class="hint">{esc(x["from_rule"])}</div>',
             f'{esc(x["to_unit_name"])}<div class="hint">{esc(x["to_rule"])}</div>'] for x in d.get("examples", [])[:50]]
    return (f'<div class="card" id="dry-run"><h2>试运行结果</h2><p>近{esc(d.get("days"))}天登记的 '
            f'<strong>{esc(d.get("cases"))}</strong> 件案件中，新规则（{esc(d.get("tried_version"))}）'
            f'会改变 <strong id="dry-changed">{esc(d.get("changed"))}</strong> 件的承办单位或期限（现行：'
            f'{esc(d.get("active_version"))}）。</p>'
            + ('<div class="scroll">' + table(["案件编号", "现行规则分派给", "新规则分派给"], rows, cards=False)
               + "</div>" if rows else "") + "</div>")


async def rules_tab(web: Web, claims: Staff, kept: str = "", dry: dict[str, Any] | None = None) -> tuple[str, list[str]]:
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


async def staff_tab(web: Web, claims: Staff, sid: str) -> tuple[str, list[str]]:
    errors: list[str] = []
    current: dict[str, Any] = {}
    hist_html = ""
    if sid:
        try:
            hist = (await web.call(claims, "routing", "GET", f"/api/v1/admin/history/{seg(sid)}")).get(
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
    rows = [[esc(u.get("code")), esc(u.get("name")), esc(u.get("kind")), "在用" if u.get("active", True) else "停用"]
            for u in below[:300]]
    mine = units.get(claims.unit, {})
    inner = f"""<div class="row"><div><label for="u-code">单位代码</label><input type="text" id="u-code" name="code"
 maxlength="64" required></div><div><label for="u-name">名称</label><input type="text" id="u-name" name="name"
 maxlength="100" required></div><div><label for="u-kind">类型</label><select id="u-kind" name="kind">
{options([("community", "社区"), ("grid", "网格"), ("street", "街道"), ("department", "部门"), ("committee", "调委会"),
      ("court_centre", "诉调中心"), ("district", "区")])}</select></div>
<div><label for="u-parent">上级单位代码</label><input type="text" id="u-parent" name="parent" maxlength="64"
 value="{esc(claims.unit)}"></div></div><label class="check"><input type="checkbox" name="active" value="1" checked>在用
</label><label for="u-reason">变更理由</label><input type="text" id="u-reason" name="reason" maxlength="300" required>"""
    return (f'<div class="card"><h2>{esc(mine.get("name", claims.unit))}的下级单位</h2><div class="scroll">'
            + table(["代码", "名称", "类型", "状态"], rows, cards=False) + "</div></div>"
            f'<div class="card"><h2>新增或修改单位</h2>{form("/admin/units", claims, inner, "保存", "save-unit")}</div>')


async def failures_tab(web: Web, claims: Staff) -> tuple[str, list[str]]:
    try:
        items = (await web.call(claims, "notify", "GET", "/api/v1/failures")).get("failures", [])
    except ApiError as exc:
        return "", [exc.message]
    rows = [[esc(local(x.get("failed_at"))), esc(x.get("case_number")), esc(x.get("channel")),
             esc(x.get("recipient_kind")), esc(x.get("attempts")), esc(x.get("error")),
             esc((x.get("fallback") or {}).get("state") or "")] for x in items]
    return ('<div class="card scroll"><h2>最终发送失败的通知</h2>'
            + table(["时间", "案件", "渠道", "接收方", "尝试次数", "原因", "改发短信"], rows, tid="failures", cards=False,
                    empty="没有发送失败的通知。") + "</div>"), []


def contacts_tab(claims: Staff) -> str:
    inner = """<label for="c-webhook">系统对接地址（webhook，https://…）</label>
<input type="text" id="c-webhook" name="webhook_url" maxlength="500">
<label for="c-email">值班邮箱</label><input type="text" id="c-email" name="email" maxlength="200">
<label for="c-wechat">值班人员微信 openid</label><input type="text" id="c-wechat" name="wechat_openid" maxlength="64">"""
    return (f'<div class="card"><h2>本单位（{esc(claims.unit)}）接收交办通知的渠道</h2>'
            '<p class="hint">保存即覆盖原设置；留空的渠道不再使用。</p>'
            + form("/admin/contacts", claims, inner, "保存", "save-contacts") + "</div>")


async def admin_page(web: Web, claims: Staff, tab: str, errors: list[str], *, ok: str = "", status: int = 200,
                     sid: str = "", kept: str = "", dry: dict[str, Any] | None = None,
                     notice: str = "") -> HTMLResponse:
    tab = tab if tab in TABS else "rules"
    if tab == "rules":
        inner, more = await rules_tab(web, claims, kept, dry)
    elif tab == "staff":
        inner, more = await staff_tab(web, claims, sid)
    elif tab == "units":
        inner, more = units_tab(claims, await web.units()), []
    elif tab == "failures":
        inner, more = await failures_tab(web, claims)
    else:
        inner, more = contacts_tab(claims), []
    body = (f"<h1>系统管理 · {esc(TABS[tab])}</h1>{tabs_html(tab)}{messages([*errors, *more])}"
            f"{ok_message(ok, OK_ZH)}{notice}{inner}")
    return await web.show("系统管理", body, claims, here="/admin", status=status)
