"""The mediation pages (调解工作台), moved from mediation's own /console into the console service: the unit's
mediation queue, a case with the forms its state and the person's role allow, the downloads, the registry of
mediators, experts and rooms, the unit's insurance claims. Every read and action is a call to mediation's API
with the signed-in person's token, so mediation checks scope and role and writes its audit record as for any
other client (docs/adr/0045-mediation-console.md, docs/adr/0085-staff-console-service.md)."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category

from ...api import ApiError
from ...ui import (
    PREFIX,
    ROLE_REFUSED,
    SHANGHAI,
    STALE_FORM,
    Staff,
    category_zh,
    csrf_ok,
    esc,
    local,
    messages,
    one,
    options,
    read_form,
    risk_zh,
)
from ...web import Web
from .actions import ACTIONS
from .case_view import (
    actions_html,
    agreement_html,
    details_html,
    invitations_html,
    reveal_html,
    sessions_html,
    timeline_html,
)
from .insurance import claims_html, list_html
from .kit import (
    EXPERT_KIND_ZH,
    EXPERT_KINDS,
    HANDLE,
    MANAGE,
    OK_ZH,
    REGISTRY,
    STATE_ZH,
    SURE_ZH,
    Ctx,
    Refused,
    form,
    labelled,
)

INVITE_RESEND_MAX_PER_DAY = 3  # mediation's default (the API enforces its own setting)
CALL_MINUTES = 30


def router(web: Web) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def m(claims: Staff, method: str, path: str, **kw: Any) -> Any:
        return await web.call(claims, "mediation", method, path, **kw)

    def p(v: str) -> str:
        return quote(v, safe="")

    # --- queue ---------------------------------------------------------------------------------------

    @r.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request, state: str = "", scope: str = "own") -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        state = state if state in STATE_ZH else ""
        below = scope == "below"
        errors: list[str] = []
        params = {"scope": "below" if below else "own"} | ({"state": state} if state else {})
        try:
            items = (await m(claims, "GET", "/api/v1/queue", params=params)).get("items", [])
        except ApiError as exc:
            items, errors = [], [exc.message]
        scope_q = "&scope=below" if below else ""
        tabs = "".join(f'<a href="{PREFIX}/queue?state={s}{scope_q}"{" class=on" if s == state else ""}>{esc(t)}</a>'
                       for s, t in (("", "全部"), *STATE_ZH.items()))
        if claims.role in MANAGE:
            tabs += (f' · <a href="{PREFIX}/queue?state={state}"{"" if below else " class=on"}>本单位</a>'
                     f'<a href="{PREFIX}/queue?state={state}&scope=below"{" class=on" if below else ""}>含下级单位</a>')
        rows = "".join(
            f'<tr><td data-l="案件"><a href="{PREFIX}/cases/{esc(c["assignment_id"])}" class="case">'
            f'{esc(c["case_number"])}</a></td>'
            f"<td data-l=\"类别\">{esc(category_zh(c['category']))}</td><td data-l=\"风险\">{esc(risk_zh(c['risk_level']))}</td>"
            f"<td data-l=\"申请人\">{esc(c['parties'][0]['name'] if c.get('parties') else '')}</td>"
            + (f"<td data-l=\"承办单位\">{esc(c['unit_name'])}</td>" if below else "")
            + f"<td data-l=\"期限\">{esc(local(c['due_at']))}</td><td><span class=\"state\">{esc(c['state_zh'])}</span></td></tr>"
            for c in items)
        unit_th = "<th>承办单位</th>" if below else ""
        table = (f'<table id="queue" class="cards"><tr><th>案件编号</th><th>类别</th><th>风险</th><th>申请人</th>{unit_th}'
                 f"<th>办理期限</th><th>状态</th></tr>{rows}</table>" if rows else "<p>没有案件。</p>")
        return await web.show("调解待办", f'<h1>调解待办</h1>{messages(errors)}<div class="card tabs">{tabs}</div>'
                                      f'<div class="card scroll">{table}</div>', claims, here="/queue")

    # --- a case --------------------------------------------------------------------------------------

    async def case_page(claims: Staff, aid: str, errors: list[str], ok: str = "", status: int = 200,
                        kept: tuple[str, dict[str, list[str]]] = ("", {}),
                        revealed: dict[str, Any] | None = None) -> HTMLResponse:
        """The case; ``revealed``: one party's contact data in full, shown on this answer only (never a redirect
        target, so it is not in the history to reload)."""
        try:
            case = await m(claims, "GET", f"/api/v1/cases/{p(aid)}")
        except ApiError as exc:
            body = (f'<h1>未找到</h1>{messages([exc.message])}'
                    f'<a class="button secondary" href="{PREFIX}/queue">返回待办</a>')
            return await web.show("未找到", body, claims, status=exc.status)
        sessions = (await m(claims, "GET", f"/api/v1/cases/{p(aid)}/sessions")).get("items", [])
        invitations = (await m(claims, "GET", f"/api/v1/cases/{p(aid)}/invitations")).get("items", [])
        agreement = (await m(claims, "GET", f"/api/v1/agreements/{p(case['agreement_id'])}")
                     if case.get("agreement_id") else None)
        people = (await m(claims, "GET", "/api/v1/people", params={"unit": case["unit_code"]})).get("items", [])
        rooms = (await m(claims, "GET", "/api/v1/rooms", params={"unit": case["unit_code"]})).get("items", [])
        claims_of_case = (await m(claims, "GET", "/api/v1/insurance-claims",
                                  params={"assignment_id": aid})).get("items", [])
        state = f'<span class="state" id="state">{esc(case["state_zh"])}</span>'
        body = (f'<h1>案件 {esc(case["case_number"])} {state}</h1>'
                + messages(errors) + messages([OK_ZH[ok]] if ok in OK_ZH else [], "ok")
                + details_html(case, revealed) + reveal_html(claims, case, kept)
                + sessions_html(sessions, case)
                + invitations_html(invitations, claims, case, INVITE_RESEND_MAX_PER_DAY)
                + agreement_html(agreement, case)
                + actions_html(claims, case, sessions, invitations, agreement, people, rooms, kept, CALL_MINUTES)
                + claims_html(claims, case, claims_of_case, kept)
                + timeline_html(case))
        return await web.show(f"案件 {case['case_number']}", body, claims, here="/queue", status=status)

    @r.get("/cases/{aid}", response_class=HTMLResponse)
    async def case_get(request: Request, aid: str, ok: str = "") -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        return await case_page(claims, aid[:64], [], ok[:20])

    # before the generic route below, which would take "reveal" for one of the ACTIONS
    @r.post("/cases/{aid}/reveal", response_class=HTMLResponse)
    async def case_reveal(request: Request, aid: str) -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        aid = aid[:64]
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await case_page(claims, aid, [STALE_FORM], status=403)
        try:
            party = await m(claims, "POST", f"/api/v1/cases/{p(aid)}/parties/{p(one(f, 'party_id')[:8])}/contact",
                            json={"reason": one(f, "reason")[:200]})
        except ApiError as exc:
            return await case_page(claims, aid, [labelled(exc)], status=exc.status, kept=("reveal", f))
        return await case_page(claims, aid, [], ok="reveal", revealed=party)

    @r.post("/cases/{aid}/{action}", response_class=HTMLResponse)
    async def case_post(request: Request, aid: str, action: str) -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        aid = aid[:64]
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await case_page(claims, aid, [STALE_FORM], status=403)
        act = ACTIONS.get(action)
        try:
            if act is None:
                raise Refused(404, "action", "not_found", "没有这项操作")
            roles, run = act
            if claims.role not in roles:
                raise Refused(403, "role", "forbidden", ROLE_REFUSED)
            if action in SURE_ZH and one(f, "sure") != "1":
                raise Refused(422, "sure", "unconfirmed", "这一步不可撤回：请先勾选确认，再提交")
            await run(Ctx(claims, aid, f, web))
        except ApiError as exc:
            return await case_page(claims, aid, [labelled(exc)], status=exc.status, kept=(action, f))
        return RedirectResponse(f"{PREFIX}/cases/{quote(aid)}?ok={action}", status_code=303)

    async def download(request: Request, aid: str, field: str, missing: Refused,
                       fetch: Callable[[dict[str, Any], Staff, str], Awaitable[Response]]) -> Response:
        """A case's document in full (``case[field]`` names it); ``reason`` from those who see the parties
        masked (mediation asks for it and records it, docs/adr/0046)."""
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        aid = aid[:64]
        try:
            case = await m(claims, "GET", f"/api/v1/cases/{p(aid)}")
            if not case.get(field):
                raise missing
            out = await fetch(case, claims, request.query_params.get("reason", "")[:200])
        except ApiError as exc:
            if exc.code == "reason_required":
                return await case_page(claims, aid, [exc.message], status=exc.status)
            back = f'<a class="button secondary" href="{PREFIX}/cases/{esc(aid)}">返回案件</a>'
            return await web.show("无法下载", messages([exc.message]) + back, claims, status=exc.status)
        out.headers["Cache-Control"] = "no-store"  # the parties in full
        return out

    async def fetch_file(claims: Staff, path: str, reason: str) -> bytes:
        res = await web.api.raw("mediation", "GET", path, claims.token, params={"reason": reason} if reason else None)
        web.api.check("mediation", res)  # the API's refusal (a reason needed, not found) as it said it
        return res.content

    @r.get("/cases/{aid}/agreement.pdf")
    async def agreement_pdf(request: Request, aid: str) -> Response:
        async def pdf(case: dict[str, Any], claims: Staff, reason: str) -> Response:
            ag = await m(claims, "GET", f"/api/v1/agreements/{p(case['agreement_id'])}")
            data = await fetch_file(claims, f"/api/v1/agreements/{p(case['agreement_id'])}/pdf", reason)
            name = f"调解协议书-{ag.get('agreement_no') or case['case_number']}.pdf"
            return Response(data, media_type="application/pdf", headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

        return await download(request, aid, "agreement_id",
                              Refused(404, "agreement", "not_found", "本案还没有调解协议"), pdf)

    @r.get("/cases/{aid}/package.zip")
    async def package_zip(request: Request, aid: str) -> Response:
        async def zip_file(case: dict[str, Any], claims: Staff, reason: str) -> Response:
            res = await web.api.raw("mediation", "GET", f"/api/v1/packages/{p(case['package_id'])}", claims.token,
                                    params={"reason": reason} if reason else None)
            web.api.check("mediation", res)
            return Response(res.content, media_type="application/zip", headers={
                "Content-Disposition": f'attachment; filename="case-file-{case["case_number"]}.zip"',
                "X-Content-SHA256": res.headers.get("x-content-sha256", "")})

        return await download(request, aid, "package_id",
                              Refused(404, "package", "not_found", "本案还没有移交卷宗"), zip_file)

    # --- people and rooms ----------------------------------------------------------------------------

    async def people_page(claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
        try:
            people = (await m(claims, "GET", "/api/v1/people")).get("items", [])
            rooms = (await m(claims, "GET", "/api/v1/rooms")).get("items", [])
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

    @r.get("/people", response_class=HTMLResponse)
    async def people_get(request: Request, ok: str = "") -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        return await people_page(claims, [], ok[:20])

    async def registry_post(request: Request, what: str, body: Callable[[dict[str, list[str]]], dict[str, Any]]
                            ) -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await people_page(claims, [STALE_FORM], status=403)
        try:
            if claims.role not in REGISTRY:
                raise Refused(403, "role", "forbidden", ROLE_REFUSED)
            await m(claims, "POST", f"/api/v1/{what}", json=body(f))
        except ApiError as exc:
            return await people_page(claims, [labelled(exc)], status=exc.status)
        return RedirectResponse(f"{PREFIX}/people?ok={'room' if what == 'rooms' else 'person'}", status_code=303)

    @r.post("/people", response_class=HTMLResponse)
    async def people_post(request: Request) -> Response:
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

        return await registry_post(request, "people", body)

    @r.post("/rooms", response_class=HTMLResponse)
    async def rooms_post(request: Request) -> Response:
        return await registry_post(request, "rooms", lambda f: {"name_zh": one(f, "name_zh")})

    # --- the unit's insurance claims -------------------------------------------------------------------

    @r.get("/insurance", response_class=HTMLResponse)
    async def insurance_list(request: Request) -> Response:
        claims = web.staff(request, HANDLE)
        if not isinstance(claims, Staff):
            return claims
        errors: list[str] = []
        try:
            items = (await m(claims, "GET", "/api/v1/insurance-claims")).get("items", [])
        except ApiError as exc:
            items, errors = [], [exc.message]
        stats = None
        if claims.role in MANAGE:
            try:
                stats = await m(claims, "GET", "/api/v1/insurance-claims-stats",
                                params={"year": datetime.now(SHANGHAI).year})
            except ApiError:
                stats = None
        return await web.show("保险理赔", messages(errors) + list_html(items, stats), claims, here="/insurance")

    return r
