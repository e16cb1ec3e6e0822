"""The registry of mediators, experts and rooms (调解员与专家): the list, and registering for those who may."""



from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category

from ...api import ApiError
from ...ui import (
    PREFIX,
    ROLE_REFUSED,
    STALE_FORM,
    Staff,
    category_zh,
    csrf_ok,
    esc,
    messages,
    one,
    options,
    read_form,
)
from ...web import PageWeb, Web
from .kit import (
    EXPERT_KIND_ZH,
    EXPERT_KINDS,
    HANDLE,
    OK_ZH,
    REGISTRY,
    Refused,
    form,
    labelled,
    m,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


async def people_page(web: Web, claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
    try:
        people = (await m(web, claims, "GET", "/api/v1/people")).get("items", [])
        rooms = (await m(web, claims, "GET", "/api/v1/rooms")).get("items", [])
    except ApiError as exc:
        people, rooms, errors = [], [], [*errors, exc.message]
    rows = "".join(f"<tr><td>{esc(x['kind_zh'])}</td><td>{esc(x['name'])}</td><td>{esc(x['title_zh'])}</td>"
                   f"<td>{esc('、'.join(category_zh(c) for c in x['fields']))}</td></tr>" for x in people)
    table = (f'<table id="people"><tr><th>类别</th><th>姓名</th><th>职务</th><th>擅长领域</th></tr>{rows}</table>'
             if rows else "<p>本单位还没有登记调解员或专家。</p>")
    room_list = "、".join(esc(x["name_zh"]) for x in rooms) or "尚未登记"
    forms = ""
    if claims.role in REGISTRY:
        kinds = options([("mediator", "调解员")] + [(k, EXPERT_KIND_ZH[k]) for k in EXPERT_KINDS])
        cats = "".join(f'<label class="check"><input type="checkbox" name="fields" value="{c.value}">'
                       f"{esc(CATEGORY_NAMES_ZH[c])}</label>" for c in Category)
        forms = form(f"{PREFIX}/people", claims, f"""<h2>登记调解员或专家</h2>
<div class="row"><div><label for="p-kind">类别</label><select id="p-kind" name="kind">{kinds}</select></div>
<div><label for="p-name">姓名</label><input type="text" id="p-name" name="name" maxlength="50" required></div>
<div><label for="p-phone">电话 <span class="hint">（可不填）</span></label>
<input type="tel" id="p-phone" name="phone" maxlength="20"></div></div>
<div class="row"><div><label for="p-title">职务 <span class="hint">（如：某律师事务所律师）</span></label>
<input type="text" id="p-title" name="title_zh" maxlength="100"></div>
<div><label for="p-employer">工作单位 <span class="hint">（用于回避审查）</span></label>
<input type="text" id="p-employer" name="employer" maxlength="100"></div>
<div><label for="p-staff">工作人员账号 <span class="hint">（调解员填写）</span></label>
<input type="text" id="p-staff" name="staff_id" maxlength="64"></div></div>
<label>擅长领域</label>{cats}
<label for="p-rel">亲友关系 <span class="hint">（用于回避审查；每行一个，如：张三 亲属）</span></label>
<textarea id="p-rel" name="relations" maxlength="3000" style="min-height:70px"></textarea>""", "登记", "register")
        forms = f'<div class="card">{forms}</div><div class="card">' + form(
            f"{PREFIX}/rooms", claims, '<h2>登记调解室</h2><label for="room-name">调解室名称</label>'
            '<input type="text" id="room-name" name="name_zh" maxlength="100" required>', "登记调解室",
            "add-room") + "</div>"
    body = (f"<h1>调解员与专家</h1>{messages(errors)}{messages([OK_ZH[ok]] if ok in OK_ZH else [], 'ok')}"
            f'<div class="card scroll">{table}<p>调解室：{room_list}</p></div>{forms}')
    return await web.show("调解员与专家", body, claims, here="/people", status=status)


@router.get("/people", response_class=HTMLResponse)
async def people_get(request: Request, web: PageWeb, ok: str = "") -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    return await people_page(web, claims, [], ok[:20])


async def registry_post(request: Request, web: Web, what: str, body: Callable[[dict[str, list[str]]], dict[str, Any]]
                        ) -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await people_page(web, claims, [STALE_FORM], status=403)
    try:
        if claims.role not in REGISTRY:
            raise Refused(403, "role", "forbidden", ROLE_REFUSED)
        await m(web, claims, "POST", f"/api/v1/{what}", json=body(f))
    except ApiError as exc:
        return await people_page(web, claims, [labelled(exc)], status=exc.status)
    return RedirectResponse(f"{PREFIX}/people?ok={'room' if what == 'rooms' else 'person'}", status_code=303)


@router.post("/people", response_class=HTMLResponse)
async def people_post(request: Request, web: PageWeb) -> Response:
    def body(f: dict[str, list[str]]) -> dict[str, Any]:
        relations = []
        for line in one(f, "relations").splitlines():
            name, _, rel = line.strip().partition(" ")
            if name:
                relations.append({"name": name, "relation_zh": rel.strip() or "亲友"})
        return {"kind": one(f, "kind"), "name": one(f, "name"), "phone": one(f, "phone") or None,
                "title_zh": one(f, "title_zh") or None, "fields": f.get("fields", []),
                "relations": relations, "employer": one(f, "employer") or None,
                "staff_id": one(f, "staff_id") or None}

    return await registry_post(request, web, "people", body)


@router.post("/rooms", response_class=HTMLResponse)
async def rooms_post(request: Request, web: PageWeb) -> Response:
    return await registry_post(request, web, "rooms", lambda f: {"name_zh": one(f, "name_zh")})
