"""The actions on a case: each takes the submitted form, validates it with the API's input models and calls
the same MediationService method as the API, with the API's role sets (ACTIONS)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from yima_contracts.codes import StaffRole

from ...service import KIND_ZH, MediationService, Refused
from ..http import (
    HANDLE,
    MANAGE,
    AgreementIn,
    CallIn,
    FailIn,
    PartyIn,
    RecordIn,
    ReturnIn,
    SessionIn,
    TransferIn,
    TurnIn,
)
from . import insurance
from .ui import METHOD_ZH, Ctx, beijing, parse


async def _accept(s: MediationService, c: Ctx) -> None:
    kind = c.get("kind") or "people"
    if kind not in KIND_ZH:
        raise Refused(422, "kind", "enum", "调解类型：取值不在允许范围内")
    await s.accept(c.aid, c.claims, kind)


async def _return(s: MediationService, c: Ctx) -> None:
    await s.give_back(c.aid, c.claims, parse(ReturnIn, {"reason": c.get("reason")}).reason)


async def _party(s: MediationService, c: Ctx) -> None:
    p = parse(PartyIn, {"role": c.get("role") or "respondent", "name": c.get("name"),
                        "phone": c.get("phone") or None, "is_organisation": c.get("is_organisation") == "1"})
    await s.add_party(c.aid, c.claims, p.role, p.name, p.phone, p.is_organisation)


async def _mediators(s: MediationService, c: Ctx) -> None:
    chosen = [x for x in c.form.get("person_ids", []) if x][:10]
    if not chosen:
        raise Refused(422, "person_ids", "too_short", "请至少选择一名调解员")
    await s.assign_mediators(c.aid, c.claims, chosen)


async def _invite(s: MediationService, c: Ctx) -> None:
    if not c.get("person_id"):
        raise Refused(422, "person_id", "missing", "请选择要邀请的专家")
    await s.invite(c.aid, c.claims, c.get("person_id")[:64], None)


async def _answer(s: MediationService, c: Ctx) -> None:
    await s.answer_invitation(c.get("invitation_id")[:64], c.claims, c.get("accept") == "1",
                              c.get("reason")[:500] or None)


async def _resend(s: MediationService, c: Ctx) -> None:
    # the invitation must be this case's: a form cannot reach another case's
    await s.resend_invitation(c.get("invitation_id")[:64], c.claims, assignment_id=c.aid)


def party_order(text: str) -> list[str] | None:
    """An async session's answer order as typed: party numbers separated by commas, spaces or 、 (p2,p1)."""
    order = [x for x in re.split(r"[\s,，、;；]+", text.lower()) if x]
    return order or None


async def _schedule(s: MediationService, c: Ctx) -> None:
    start = beijing(c.get("date"), c.get("start"), "starts_at")
    end = beijing(c.get("end_date") or c.get("date"), c.get("end"), "ends_at")
    mode = c.get("mode")
    body = {"mode": mode, "format": c.get("format") or "joint", "starts_at": start, "ends_at": end,
            "room_id": (c.get("room_id") or None) if mode == "offline" else None,
            "join_url": (c.get("join_url") or None) if mode == "online" else None,
            "caucus_party_id": c.get("caucus_party_id") or None,
            "party_order": party_order(c.get("party_order")) if mode == "async" else None}
    x = parse(SessionIn, body)
    await s.schedule(c.aid, c.claims, mode=x.mode, fmt=x.format, starts_at=x.starts_at, ends_at=x.ends_at,
                     room_id=x.room_id, join_url=x.join_url, caucus_party_id=x.caucus_party_id,
                     party_order=x.party_order)


async def _session_of_case(s: MediationService, c: Ctx) -> str:
    """The session named by the form, which must be one of this case's (a form cannot reach another case's)."""
    sid = c.get("session_id")[:64]
    if not sid or (await s.get_session(sid, c.claims))["assignment_id"] != c.aid:
        raise Refused(404, "session_id", "not_found", "未找到该调解场次")
    return sid


async def _call(s: MediationService, c: Ctx) -> None:
    x = parse(CallIn, {"kind": c.get("kind"), "party_id": c.get("party_id"), "unit": c.get("unit") or None})
    await s.call(c.aid, c.claims, x.kind, x.party_id, x.unit)


async def _end_call(s: MediationService, c: Ctx) -> None:
    await s.end_call(await _session_of_case(s, c), c.claims)


async def _turn(s: MediationService, c: Ctx) -> None:
    x = parse(TurnIn, {"party_id": c.get("party_id"), "statement": c.get("statement")})
    await s.add_turn(await _session_of_case(s, c), c.claims, x.party_id, x.statement)


async def _record(s: MediationService, c: Ctx) -> None:
    x = parse(RecordIn, {"attended": c.form.get("attended", []), "absent": c.form.get("absent", []),
                         "summary": c.get("summary"), "next_step": c.get("next_step")})
    if set(x.attended) & set(x.absent):
        raise Refused(422, "absent", "both", "同一当事人不能既到场又缺席")
    await s.record_session(c.get("session_id")[:64], c.claims, x.attended, x.absent, x.summary, x.next_step)


async def _agreement(s: MediationService, c: Ctx) -> None:
    terms = [t.strip() for t in c.get("terms").splitlines() if t.strip()]
    x = parse(AgreementIn, {"facts_zh": c.get("facts_zh"), "terms": terms})
    await s.draft_agreement(c.aid, c.claims, x.facts_zh, x.terms)


async def _agreement_id(s: MediationService, c: Ctx) -> str:
    case = await s.get_case(c.aid, c.claims)
    if not case.get("agreement_id"):
        raise Refused(409, "agreement", "not_found", "请先起草调解协议")
    return str(case["agreement_id"])


async def _confirm(s: MediationService, c: Ctx) -> None:
    method = c.get("method")
    if method not in METHOD_ZH or not c.get("party_id"):
        raise Refused(422, "party_id", "missing", "请选择确认的当事人和确认方式")
    await s.confirm(await _agreement_id(s, c), c.claims, c.get("party_id")[:8], method)


async def _sign(s: MediationService, c: Ctx) -> None:
    await s.sign(await _agreement_id(s, c), c.claims)


async def _judicial(s: MediationService, c: Ctx) -> None:
    court = c.get("court_zh")
    if not 2 <= len(court) <= 100:
        raise Refused(422, "court_zh", "invalid", "请填写受理司法确认的法院（2至100字）")
    await s.request_judicial(c.aid, c.claims, court)


async def _court(s: MediationService, c: Ctx) -> None:
    ruling, reason = c.get("ruling_no")[:64] or None, c.get("reason")[:500] or None
    await s.judicial_answer(c.aid, c.claims, c.get("confirmed") == "1", ruling, reason)


async def _availability(s: MediationService, c: Ctx) -> None:
    windows = []
    for line in filter(None, (x.strip() for x in c.get("windows").splitlines())):
        day, _, span = line.partition(" ")
        start, _, end = span.strip().partition("-")
        a, b = beijing(day, start.strip(), "windows"), beijing(day, end.strip(), "windows")
        if b <= a:
            raise Refused(422, "windows", "bad_window", f"“{line}”：结束须晚于开始")
        windows.append((a, b))
    if not 1 <= len(windows) <= 50:
        raise Refused(422, "windows", "too_short", "请至少填写一个时间段（每行一个，如 2026-11-24 09:00-12:00）")
    await s.set_availability(c.aid, c.claims, c.get("party_id")[:8], windows)


async def _close(s: MediationService, c: Ctx) -> None:
    await s.close(c.aid, c.claims)


async def _fail(s: MediationService, c: Ctx) -> None:
    x = parse(FailIn, {"reason": c.get("reason"), "next": c.get("next") or "transfer"})
    await s.fail(c.aid, c.claims, x.reason, x.next)


async def _transfer(s: MediationService, c: Ctx) -> None:
    x = parse(TransferIn, {"to": c.get("to"), "receiving_body_zh": c.get("receiving_body_zh")})
    await s.transfer(c.aid, c.claims, x.to, x.receiving_body_zh)


Action = tuple[tuple[StaffRole, ...], Callable[[MediationService, Ctx], Awaitable[None]]]
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
