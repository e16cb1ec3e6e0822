"""管理员 (admin): the tabs' page and what their forms post — a rule change (dry run first, then published with
a reason), a staff account, its initial password and TOTP, a unit, the unit's notification contacts."""



from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...api import ApiError
from ...ui import PREFIX, STALE_FORM, Staff, csrf_ok, messages, one, read_form, seg
from ...web import PageWeb, Web
from .views import ADMIN, admin_page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
async def admin_get(request: Request, web: PageWeb, tab: str = "rules", ok: str = "", sid: str = "") -> Response:
    claims = web.staff(request, ADMIN)
    if not isinstance(claims, Staff):
        return claims
    return await admin_page(web, claims, tab[:10], [], ok=ok[:20], sid=sid[:64])


async def posted(request: Request, web: Web) -> tuple[Staff | Response, dict[str, list[str]]]:
    claims = web.staff(request, ADMIN)
    if not isinstance(claims, Staff):
        return claims, {}
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await admin_page(web, claims, "rules", [STALE_FORM], status=403), {}
    return claims, f


@router.post("/admin/rules", response_class=HTMLResponse)
async def rules_post(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    text = (f.get("rules") or [""])[0]
    try:
        rules = json.loads(text)
        if not isinstance(rules, dict):
            raise ValueError
    except ValueError:
        return await admin_page(web, claims, "rules", ["规则不是有效的JSON对象，请检查括号、引号和逗号"], status=422,
                                kept=text)
    days = one(f, "days")
    try:
        dry = await web.call(claims, "routing", "POST", "/api/v1/admin/rules/dry-run",
                             json={"rules": rules, "days": int(days) if days.isdigit() else 30})
    except ApiError as exc:
        return await admin_page(web, claims, "rules", [f"试运行未通过：{exc.message}"], status=exc.status, kept=text)
    if one(f, "do") != "publish":
        return await admin_page(web, claims, "rules", [], kept=text, dry=dry)
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
        return await admin_page(web, claims, "rules", errors, status=422, kept=text, dry=dry)
    return RedirectResponse(f"{PREFIX}/admin?tab=rules&ok=rules", status_code=303)


@router.post("/admin/staff", response_class=HTMLResponse)
async def staff_post(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    sid = (one(f, "new_id") or one(f, "staff_id"))[:64].lower()
    body = {"name": one(f, "name"), "unit": one(f, "unit"), "role": one(f, "role"),
            "active": one(f, "active") == "1", "reason": one(f, "reason")}
    try:
        await web.call(claims, "routing", "PUT", f"/api/v1/admin/staff/{seg(sid)}", json=body)
    except ApiError as exc:
        return await admin_page(web, claims, "staff", [f"保存未成功：{exc.message}"], status=exc.status, sid=sid)
    return RedirectResponse(f"{PREFIX}/admin?tab=staff&ok=staff&sid={seg(sid)}", status_code=303)


@router.post("/admin/staff/password", response_class=HTMLResponse)
async def staff_password(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    sid = one(f, "staff_id")[:64]
    try:
        await web.call(claims, "routing", "POST", f"/api/v1/admin/staff/{seg(sid)}/password",
                       json={"password": (f.get("password") or [""])[0]})
    except ApiError as exc:
        return await admin_page(web, claims, "staff", [f"重置未成功：{exc.message}"], status=exc.status, sid=sid)
    return RedirectResponse(f"{PREFIX}/admin?tab=staff&ok=password&sid={seg(sid)}", status_code=303)


@router.post("/admin/staff/totp", response_class=HTMLResponse)
async def staff_totp(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    sid = one(f, "staff_id")[:64]
    try:
        res = await web.call(claims, "routing", "POST", f"/api/v1/admin/staff/{seg(sid)}/totp")
    except ApiError as exc:
        return await admin_page(web, claims, "staff", [f"绑定未成功：{exc.message}"], status=exc.status, sid=sid)
    uri = str(res.get("otpauth_uri", ""))
    notice = messages([f"已生成新的动态口令密钥。请当面把下面的地址录入对方的身份验证器（只显示这一次）：{uri}"], "ok")
    return await admin_page(web, claims, "staff", [], sid=sid, notice=notice)


@router.post("/admin/units", response_class=HTMLResponse)
async def unit_post(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    code = one(f, "code")[:64]
    body = {"name": one(f, "name"), "kind": one(f, "kind"), "parent": one(f, "parent") or None,
            "active": one(f, "active") == "1", "reason": one(f, "reason")}
    try:
        await web.call(claims, "routing", "PUT", f"/api/v1/admin/units/{seg(code)}", json=body)
    except ApiError as exc:
        return await admin_page(web, claims, "units", [f"保存未成功：{exc.message}"], status=exc.status)
    web.forget_units()
    return RedirectResponse(f"{PREFIX}/admin?tab=units&ok=unit", status_code=303)


@router.post("/admin/contacts", response_class=HTMLResponse)
async def contacts_post(request: Request, web: PageWeb) -> Response:
    claims, f = await posted(request, web)
    if not isinstance(claims, Staff):
        return claims
    body = {k: one(f, k) or None for k in ("webhook_url", "email", "wechat_openid")}
    try:
        await web.call(claims, "notify", "PUT", f"/api/v1/units/{seg(claims.unit)}/contacts", json=body)
    except ApiError as exc:
        return await admin_page(web, claims, "contacts", [f"保存未成功：{exc.message}"], status=exc.status)
    return RedirectResponse(f"{PREFIX}/admin?tab=contacts&ok=contacts", status_code=303)
