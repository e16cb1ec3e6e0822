"""Registering a walk-in case (窗口登记), a proxy (代办) submission or a grid worker's report through intake's
staff channels (the channel each role may use, as intake allows it)."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH

from ..api import ApiError
from ..ui import PREFIX, STALE_FORM, Staff, csrf_ok, esc, form, messages, one, options, read_form
from ..web import PageWeb
from .dispatch import DISPATCHING

router = APIRouter(prefix=PREFIX, include_in_schema=False)
REGISTERING = (*DISPATCHING, "grid_worker")  # intake's staff channels: the desk, proxies, grid reports
CHANNELS_ZH = {"reception": "窗口接待（申请人到场）", "proxy": "代办（他人代为申请）", "grid": "网格员上报"}


def channels_for(role: str) -> list[tuple[str, str]]:
    """The staff channels intake lets this role use (grid: grid workers, dispatchers, admins)."""
    if role == "grid_worker":
        return [("grid", CHANNELS_ZH["grid"])]
    allowed = ("reception", "proxy", "grid") if role in ("dispatcher", "admin") else ("reception", "proxy")
    return [(c, CHANNELS_ZH[c]) for c in allowed]


CONSENT_ZH = {"written": "书面同意", "verbal_recorded": "口头同意（已录音）", "in_person": "申请人在场同意"}


def walkin_body(claims: Staff, errors: list[str], f: dict[str, list[str]], created: dict[str, Any] | None = None
                ) -> str:
    def k(key: str) -> str:
        return esc(one(f, key))
    done = ""
    if created:
        done = messages([f"已登记：案件编号 {created.get('case_number')}，查询码 {created.get('tracking_code') or '（已短信告知）'}"
                         "，请告知申请人凭查询码查询进度"], "ok")
    proxy = one(f, "channel") == "proxy"
    inner = f"""<div class="row"><div><label for="w-channel">登记方式</label><select id="w-channel" name="channel">
{options(channels_for(claims.role), one(f, "channel"))}</select></div>
<div><label for="w-category">纠纷类别 <span class="hint">（可不选，系统智能分类）</span></label>
<select id="w-category" name="category">{options([("", "智能分类"), *((c.value, n) for c, n in CATEGORY_NAMES_ZH.items())],
                                              one(f, "category"))}</select></div></div>
<div class="row"><div><label for="w-name">申请人姓名</label><input type="text" id="w-name" name="name" maxlength="50"
 value="{k("name")}" required></div><div><label for="w-phone">申请人电话</label><input type="tel" id="w-phone" name="phone"
 maxlength="20" value="{k("phone")}" required></div></div>
<label for="w-desc">纠纷情况</label><textarea id="w-desc" name="description" maxlength="5000" required>{k("description")}
</textarea>
<div class="row"><div><label for="w-unit">纠纷发生地（社区/网格代码，可不填）</label>
<input type="text" id="w-unit" name="location_unit" maxlength="64" value="{k("location_unit")}"></div>
<div><label for="w-address">地址（可不填）</label><input type="text" id="w-address" name="address" maxlength="200"
 value="{k("address")}"></div></div>
<details{" open" if proxy else ""}><summary>代办信息（选择“代办”时必填）</summary><div class="row">
<div><label for="w-sub-name">代办人姓名</label><input type="text" id="w-sub-name" name="submitter_name" maxlength="50"
 value="{k("submitter_name")}"></div><div><label for="w-sub-phone">代办人电话</label><input type="tel" id="w-sub-phone"
 name="submitter_phone" maxlength="20" value="{k("submitter_phone")}"></div>
<div><label for="w-relation">与申请人关系</label><input type="text" id="w-relation" name="relation" maxlength="40"
 value="{k("relation")}" placeholder="如：子女、社区工作人员"></div>
<div><label for="w-consent">申请人同意方式</label><select id="w-consent" name="consent">
{options(CONSENT_ZH.items(), one(f, "consent"))}</select></div></div></details>"""
    title = "网格上报" if claims.role == "grid_worker" else "窗口登记 / 代办登记"
    return (f"<h1>{title}</h1>{messages(errors)}{done}<div class='card'>"
            + form("/walkin", claims, inner, "登记", "walkin-submit") + "</div>")


@router.get("/walkin", response_class=HTMLResponse)
async def walkin_get(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, REGISTERING)
    if not isinstance(claims, Staff):
        return claims
    return await web.show("窗口登记", walkin_body(claims, [], {}), claims, here="/walkin")


@router.post("/walkin", response_class=HTMLResponse)
async def walkin_post(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, REGISTERING)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await web.show("窗口登记", walkin_body(claims, [STALE_FORM], f), claims, status=403)
    allowed = [c for c, _ in channels_for(claims.role)]
    channel = one(f, "channel") if one(f, "channel") in allowed else allowed[0]
    body: dict[str, Any] = {"channel": channel, "description": one(f, "description"),
                            "applicant": {"name": one(f, "name"), "phone": one(f, "phone")},
                            "location": {"unit_code": one(f, "location_unit") or None,
                                         "address": one(f, "address") or None}}
    if one(f, "category"):
        body["category"] = one(f, "category")
    if channel == "proxy":
        body["proxy"] = {"submitter": {"name": one(f, "submitter_name"), "phone": one(f, "submitter_phone")},
                         "relation": one(f, "relation"), "consent": one(f, "consent") or "in_person"}
    try:
        created = await web.call(claims, "intake", "POST", "/api/v1/cases", json=body)
    except ApiError as exc:
        return await web.show("窗口登记", walkin_body(claims, [f"登记未成功：{exc.message}"], f), claims,
                              status=exc.status)
    return await web.show("窗口登记", walkin_body(claims, [], {}, created), claims, here="/walkin")
