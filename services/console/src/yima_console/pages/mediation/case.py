"""A mediation case: the page with the forms its state and the person's role allow (``case_view``, ``forms``),
the actions they post (``actions.ACTIONS``), seeing a party's contact data with a reason, and the downloads."""



from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...api import ApiError
from ...ui import (
    PREFIX,
    ROLE_REFUSED,
    STALE_FORM,
    Staff,
    csrf_ok,
    esc,
    messages,
    one,
    read_form,
    seg,
)
from ...web import PageWeb, Web
from .actions import ACTIONS
from .case_view import agreement_html, details_html, invitations_html, reveal_html, sessions_html, timeline_html
from .forms import actions_html
from .insurance import claims_html
from .kit import (
    HANDLE,
    OK_ZH,
    SURE_ZH,
    Ctx,
    Refused,
    labelled,
    m,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


INVITE_RESEND_MAX_PER_DAY = 3  # mediation's default (the API enforces its own setting)
CALL_MINUTES = 30


async def case_page(web: Web, claims: Staff, aid: str, errors: list[str], ok: str = "", status: int = 200,
                    kept: tuple[str, dict[str, list[str]]] = ("", {}),
                    revealed: dict[str, Any] | None = None) -> HTMLResponse:
    """The case; ``revealed``: one party's contact data in full, shown on this answer only (never a redirect
    target, so it is not in the history to reload)."""
    try:
        case = await m(web, claims, "GET", f"/api/v1/cases/{seg(aid)}")
    except ApiError as exc:
        body = (f'<h1>未找到</h1>{messages([exc.message])}'
                f'<a class="button secondary" href="{PREFIX}/queue">返回待办</a>')
        return await web.show("未找到", body, claims, status=exc.status)
    sessions = (await m(web, claims, "GET", f"/api/v1/cases/{seg(aid)}/sessions")).get("items", [])
    invitations = (await m(web, claims, "GET", f"/api/v1/cases/{seg(aid)}/invitations")).get("items", [])
    agreement = (await m(web, claims, "GET", f"/api/v1/agreements/{seg(case['agreement_id'])}")
                 if case.get("agreement_id") else None)
    people = (await m(web, claims, "GET", "/api/v1/people", params={"unit": case["unit_code"]})).get("items", [])
    rooms = (await m(web, claims, "GET", "/api/v1/rooms", params={"unit": case["unit_code"]})).get("items", [])
    claims_of_case = (await m(web, claims, "GET", "/api/v1/insurance-claims",
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


@router.get("/cases/{aid}", response_class=HTMLResponse)
async def case_get(request: Request, web: PageWeb, aid: str, ok: str = "") -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    return await case_page(web, claims, aid[:64], [], ok[:20])

# before the generic route below, which would take "reveal" for one of the ACTIONS
@router.post("/cases/{aid}/reveal", response_class=HTMLResponse)
async def case_reveal(request: Request, web: PageWeb, aid: str) -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    aid = aid[:64]
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await case_page(web, claims, aid, [STALE_FORM], status=403)
    try:
        party = await m(web, claims, "POST", f"/api/v1/cases/{seg(aid)}/parties/{seg(one(f, 'party_id')[:8])}/contact",
                        json={"reason": one(f, "reason")[:200]})
    except ApiError as exc:
        return await case_page(web, claims, aid, [labelled(exc)], status=exc.status, kept=("reveal", f))
    return await case_page(web, claims, aid, [], ok="reveal", revealed=party)


@router.post("/cases/{aid}/{action}", response_class=HTMLResponse)
async def case_post(request: Request, web: PageWeb, aid: str, action: str) -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    aid = aid[:64]
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await case_page(web, claims, aid, [STALE_FORM], status=403)
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
        return await case_page(web, claims, aid, [labelled(exc)], status=exc.status, kept=(action, f))
    return RedirectResponse(f"{PREFIX}/cases/{quote(aid)}?ok={action}", status_code=303)


async def download(request: Request, web: Web, aid: str, field: str, missing: Refused,
                   fetch: Callable[[dict[str, Any], Staff, str], Awaitable[Response]]) -> Response:
    """A case's document in full (``case[field]`` names it); ``reason`` from those who see the parties
    masked (mediation asks for it and records it, docs/adr/0046)."""
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    aid = aid[:64]
    try:
        case = await m(web, claims, "GET", f"/api/v1/cases/{seg(aid)}")
        if not case.get(field):
            raise missing
        out = await fetch(case, claims, request.query_params.get("reason", "")[:200])
    except ApiError as exc:
        if exc.code == "reason_required":
            return await case_page(web, claims, aid, [exc.message], status=exc.status)
        back = f'<a class="button secondary" href="{PREFIX}/cases/{esc(aid)}">返回案件</a>'
        return await web.show("无法下载", messages([exc.message]) + back, claims, status=exc.status)
    out.headers["Cache-Control"] = "no-store"  # the parties in full
    return out


async def fetch_file(web: Web, claims: Staff, path: str, reason: str) -> bytes:
    res = await web.api.raw("mediation", "GET", path, claims.token, params={"reason": reason} if reason else None)
    web.api.check("mediation", res)  # the API's refusal (a reason needed, not found) as it said it
    return res.content


@router.get("/cases/{aid}/agreement.pdf")
async def agreement_pdf(request: Request, web: PageWeb, aid: str) -> Response:
    async def pdf(case: dict[str, Any], claims: Staff, reason: str) -> Response:
        ag = await m(web, claims, "GET", f"/api/v1/agreements/{seg(case['agreement_id'])}")
        data = await fetch_file(web, claims, f"/api/v1/agreements/{seg(case['agreement_id'])}/pdf", reason)
        name = f"调解协议书-{ag.get('agreement_no') or case['case_number']}.pdf"
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    return await download(request, web, aid, "agreement_id",
                          Refused(404, "agreement", "not_found", "本案还没有调解协议"), pdf)


@router.get("/cases/{aid}/package.zip")
async def package_zip(request: Request, web: PageWeb, aid: str) -> Response:
    async def zip_file(case: dict[str, Any], claims: Staff, reason: str) -> Response:
        res = await web.api.raw("mediation", "GET", f"/api/v1/packages/{seg(case['package_id'])}", claims.token,
                                params={"reason": reason} if reason else None)
        web.api.check("mediation", res)
        return Response(res.content, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="case-file-{case["case_number"]}.zip"',
            "X-Content-SHA256": res.headers.get("x-content-sha256", "")})

    return await download(request, web, aid, "package_id",
                          Refused(404, "package", "not_found", "本案还没有移交卷宗"), zip_file)
