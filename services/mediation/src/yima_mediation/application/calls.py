"""在线呼叫: a party calls in a judge, lawyer or mediator online, now — someone free and not in conflict is
held for the call and a video session opens at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import MediationScheduled, topics
from yima_contracts.codes import CaseState
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.case import MediationCase
from .base import EXPERT_KIND_ZH, Refused, ServiceBase


class Calls(ServiceBase):
    async def call(self, assignment_id: str, claims: StaffClaims, kind: str, party_id: str, unit: str | None
                   ) -> dict[str, Any]:
        """Find someone of that kind who is free and not in conflict, hold them for the call, open a video
        session now and tell the applicant. The hold (``on_call_until``) is claimed atomically, so two calls
        never get the same person."""
        now = self.now()
        minutes = self.settings.call_minutes

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            MediationCase.of(case).move("schedule")
            if party_id not in {p["party_id"] for p in case["parties"]}:
                raise Refused(422, "party_id", "unknown_party", "本案没有这位当事人")
            held, conflicted = await self._hold_someone(s, case, kind, unit, now, minutes)
            name = self._dec(held["name"], "person.name")
            sid = str(uuid4())
            url = f"{self.settings.video_base_url.rstrip('/')}/{sid}"
            await self.store.sessions.insert({
                "_id": sid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []),
                "mode": "online", "format": "joint", "kind": case.get("kind", "people"), "starts_at": now,
                "ends_at": now + timedelta(minutes=minutes), "room_id": None, "place_zh": None, "join_url": url,
                "caucus_party_id": None, "party_order": [party_id], "turns": [], "on_demand": True,
                "called_by": party_id, "experts": [{"person_id": held["_id"], "kind": kind, "name": name}],
                "state": "scheduled", "created_at": now, "created_by": claims.sub}, s)
            await self.store.invitations.insert({
                "_id": str(uuid4()), "assignment_id": case["_id"], "case_id": case["case_id"],
                "person_id": held["_id"], "kind": kind, "name": name, "session_id": sid, "state": "accepted",
                "reasons": [], "via": "call", "at": now}, s)
            who = EXPERT_KIND_ZH.get(kind, kind)
            await self._move(s, case, "schedule", states.IN_MEDIATION, None,
                             {"what": "call", "session_id": sid, "text_zh": f"在线呼叫{who}{name}，已接通"})
            msg = f"您呼叫的{who}已接入在线调解，请在查询页点击“进入视频调解”立即进入。"
            out.append(Outgoing(topics.MEDIATION_SCHEDULED, MediationScheduled(
                **self._common(case, claims), session_id=sid, unit_code=case["unit_code"], mode="online",
                format="joint", kind=case.get("kind", "people"), starts_at=now,
                ends_at=now + timedelta(minutes=minutes), join_url=url, expert_kinds=[kind],
                applicant_message_zh=msg)))
            out.append(self._status(case, claims, CaseState.IN_MEDIATION, f"已接通在线{who}", msg,
                                    "请立即通过视频链接进入", announced_by=MediationScheduled.EVENT_TYPE))
            return {"session_id": sid, "join_url": url, "person_id": held["_id"], "name": name,
                    "skipped_for_conflict": conflicted}

        return await self._tx(work)

    async def _hold_someone(self, s: AsyncClientSession, case: dict[str, Any], kind: str, unit: str | None,
                            now: datetime, minutes: int) -> tuple[dict[str, Any], int]:
        """The first free person of ``kind`` not in conflict, held for the call; and how many were skipped for
        a conflict of interest."""
        conflicted = 0
        for p in await self.store.people.free_to_call(kind, unit or case["unit_code"], now, s):
            if self._conflicts(p, case):
                conflicted += 1
                continue
            held = await self.store.people.hold(p["_id"], now, now + timedelta(minutes=minutes), s)
            if held:
                return held, conflicted
        raise Refused(409, "kind", "nobody_free", f"暂无可接入的{EXPERT_KIND_ZH.get(kind, kind)}，请稍后再试或预约调解")

    async def end_call(self, session_id: str, claims: StaffClaims) -> None:
        ses = await self.store.sessions.get(session_id)
        if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())) or not ses.get("on_demand"):
            raise Refused(404, "session_id", "not_found", "未找到该在线呼叫")
        for e in ses.get("experts", []):
            await self.store.people.release(e["person_id"])
