"""The actions on a case: each turns the submitted form into the body of mediation's API call (which validates
it and checks the role again); ACTIONS names the roles the API allows, so a form the role cannot use is
refused before the call."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from . import insurance
from .kit import HANDLE, KIND_ZH, MANAGE, METHOD_ZH, Ctx, Refused, beijing


def _p(v: str) -> str:
    return quote(v, safe="")


async def _accept(c: Ctx) -> None:
    kind = c.get("kind") or "people"
    if kind not in KIND_ZH:
        raise Refused(422, "kind", "enum", "调解类型：取值不在允许范围内")
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/accept", {"kind": kind})


async def _return(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/return", {"reason": c.get("reason")})


async def _party(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/parties", {
        "role": c.get("role") or "respondent", "name": c.get("name"), "phone": c.get("phone") or None,
        "is_organisation": c.get("is_organisation") == "1"})


async def _mediators(c: Ctx) -> None:
    chosen = [x for x in c.form.get("person_ids", []) if x][:10]
    if not chosen:
        raise Refused(422, "person_ids", "too_short", "请至少选择一名调解员")
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/mediators", {"person_ids": chosen})


async def _invite(c: Ctx) -> None:
    if not c.get("person_id"):
        raise Refused(422, "person_id", "missing", "请选择要邀请的专家")
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/invitations", {"person_id": c.get("person_id")[:64]})


async def _own_invitation(c: Ctx) -> str:
    """The invitation named by the form, which must be one of this case's (a form cannot reach another case's)."""
    iid = c.get("invitation_id")[:64]
    items = (await c.api("GET", f"/api/v1/cases/{_p(c.aid)}/invitations")).get("items", [])
    if not iid or iid not in {i.get("invitation_id") for i in items}:
        raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
    return iid


async def _answer(c: Ctx) -> None:
    iid = await _own_invitation(c)
    await c.api("POST", f"/api/v1/invitations/{_p(iid)}/answer",
                {"accept": c.get("accept") == "1", "reason": c.get("reason")[:500] or None})


async def _resend(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/invitations/{_p(await _own_invitation(c))}/resend")


def party_order(text: str) -> list[str] | None:
    """An async session's answer order as typed: party numbers separated by commas, spaces or 、 (p2,p1)."""
    order = [x for x in re.split(r"[\s,，、;；]+", text.lower()) if x]
    return order or None


async def _schedule(c: Ctx) -> None:
    start = beijing(c.get("date"), c.get("start"), "starts_at")
    end = beijing(c.get("end_date") or c.get("date"), c.get("end"), "ends_at")
    mode = c.get("mode")
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/sessions", {
        "mode": mode, "format": c.get("format") or "joint", "starts_at": start, "ends_at": end,
        "room_id": (c.get("room_id") or None) if mode == "offline" else None,
        "join_url": (c.get("join_url") or None) if mode == "online" else None,
        "caucus_party_id": c.get("caucus_party_id") or None,
        "party_order": party_order(c.get("party_order")) if mode == "async" else None})


async def _session_of_case(c: Ctx) -> str:
    """The session named by the form, which must be one of this case's (a form cannot reach another case's)."""
    sid = c.get("session_id")[:64]
    if not sid or (await c.api("GET", f"/api/v1/sessions/{_p(sid)}")).get("assignment_id") != c.aid:
        raise Refused(404, "session_id", "not_found", "未找到该调解场次")
    return sid


async def _call(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/calls",
                {"kind": c.get("kind"), "party_id": c.get("party_id"), "unit": c.get("unit") or None})


async def _end_call(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/sessions/{_p(await _session_of_case(c))}/end-call")


async def _turn(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/sessions/{_p(await _session_of_case(c))}/turns",
                {"party_id": c.get("party_id"), "statement": c.get("statement")})


async def _record(c: Ctx) -> None:
    attended, absent = c.form.get("attended", []), c.form.get("absent", [])
    if set(attended) & set(absent):
        raise Refused(422, "absent", "both", "同一当事人不能既到场又缺席")
    await c.api("POST", f"/api/v1/sessions/{_p(await _session_of_case(c))}/record", {
        "attended": attended, "absent": absent, "summary": c.get("summary"), "next_step": c.get("next_step")})


async def _agreement(c: Ctx) -> None:
    terms = [t.strip() for t in c.get("terms").splitlines() if t.strip()]
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/agreement", {"facts_zh": c.get("facts_zh"), "terms": terms})


async def _agreement_id(c: Ctx) -> str:
    case = await c.api("GET", f"/api/v1/cases/{_p(c.aid)}")
    if not case.get("agreement_id"):
        raise Refused(409, "agreement", "not_found", "请先起草调解协议")
    return str(case["agreement_id"])


async def _confirm(c: Ctx) -> None:
    method = c.get("method")
    if method not in METHOD_ZH or not c.get("party_id"):
        raise Refused(422, "party_id", "missing", "请选择确认的当事人和确认方式")
    await c.api("POST", f"/api/v1/agreements/{_p(await _agreement_id(c))}/confirmations",
                {"party_id": c.get("party_id")[:8], "method": method})


async def _sign(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/agreements/{_p(await _agreement_id(c))}/sign")


async def _judicial(c: Ctx) -> None:
    court = c.get("court_zh")
    if not 2 <= len(court) <= 100:
        raise Refused(422, "court_zh", "invalid", "请填写受理司法确认的法院（2至100字）")
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/judicial-confirmation", {"court_zh": court})


async def _court(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/judicial-confirmation/answer", {
        "confirmed": c.get("confirmed") == "1", "ruling_no": c.get("ruling_no")[:64] or None,
        "reason": c.get("reason")[:500] or None})


async def _availability(c: Ctx) -> None:
    windows = []
    for line in filter(None, (x.strip() for x in c.get("windows").splitlines())):
        day, _, span = line.partition(" ")
        start, _, end = span.strip().partition("-")
        a, b = beijing(day, start.strip(), "windows"), beijing(day, end.strip(), "windows")
        if b <= a:  # same day and zone: the ISO texts order as the times do
            raise Refused(422, "windows", "bad_window", f"“{line}”：结束须晚于开始")
        windows.append({"start": a, "end": b})
    if not 1 <= len(windows) <= 50:
        raise Refused(422, "windows", "too_short", "请至少填写一个时间段（每行一个，如 2026-11-24 09:00-12:00）")
    await c.api("PUT", f"/api/v1/cases/{_p(c.aid)}/availability",
                {"party_id": c.get("party_id")[:8], "windows": windows})


async def _close(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/close")


async def _fail(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/fail",
                {"reason": c.get("reason"), "next": c.get("next") or "transfer"})


async def _transfer(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/cases/{_p(c.aid)}/transfer",
                {"to": c.get("to"), "receiving_body_zh": c.get("receiving_body_zh")})


Action = tuple[tuple[str, ...], Callable[[Ctx], Awaitable[None]]]
ACTIONS: dict[str, Action] = {
    "accept": (MANAGE, _accept), "return": (MANAGE, _return), "party": (HANDLE, _party),
    "mediators": (MANAGE, _mediators), "invite": (HANDLE, _invite), "answer": (HANDLE, _answer),
    "resend": (HANDLE, _resend),
    "schedule": (HANDLE, _schedule), "record": (HANDLE, _record), "agreement": (HANDLE, _agreement),
    "confirm": (HANDLE, _confirm), "sign": (HANDLE, _sign), "judicial": (HANDLE, _judicial),
    "court": (HANDLE, _court), "availability": (HANDLE, _availability), "close": (HANDLE, _close),
    "fail": (HANDLE, _fail), "transfer": (MANAGE, _transfer), "call": (HANDLE, _call),
    "end_call": (HANDLE, _end_call), "turn": (HANDLE, _turn), "claim": (HANDLE, insurance.register),
    "decide": (MANAGE, insurance.decide), "dispute": (HANDLE, insurance.dispute),
    "redecide": (MANAGE, insurance.redecide), "evaluate": (HANDLE, insurance.evaluate),
}
