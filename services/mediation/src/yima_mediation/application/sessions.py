"""Sessions: scheduling (online, offline in a booked room, or answered in turn), the answers in turn, the
record of a session held or missed (a party's second no-show ends mediation as failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import MediationScheduled, MediationSessionHeld, topics
from yima_contracts.codes import CaseState
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.schedule import (
    ScheduleError,
    Window,
    check_async_window,
    check_live_session,
    next_turn,
    room_slots,
    unavailable_parties,
)
from ..core.timefmt import aware, fmt_local
from .base import MODE_ZH, Refused, ServiceBase


class Sessions(ServiceBase):
    async def list_sessions(self, assignment_id: str, claims: StaffClaims) -> list[dict[str, Any]]:
        """A case's sessions, oldest first, as ``GET /sessions/{id}`` shows one (no statements, no summary)."""
        case = await self._case(assignment_id, claims)
        out = []
        for ses in await self.store.sessions.of_case(case["_id"]):
            view: dict[str, Any] = {k: (aware(v) if isinstance(v, datetime) else v) for k, v in ses.items()
                                    if k not in ("_id", "turns")}
            if view.get("record"):
                view["record"] = {k: v for k, v in view["record"].items() if k != "summary"}
            out.append(view | {"session_id": ses["_id"], "turns": len(ses.get("turns", []))})
        return out

    async def schedule(self, assignment_id: str, claims: StaffClaims, *, mode: str, fmt: str, starts_at: datetime,
                       ends_at: datetime, room_id: str | None, join_url: str | None, caucus_party_id: str | None,
                       party_order: list[str] | None) -> dict[str, Any]:
        now = self.now()
        try:
            if mode == "async":
                check_async_window(starts_at, ends_at, now)
            else:
                check_live_session(starts_at, ends_at, now,
                                   working_hours=not self.settings.sessions_at_any_hour)
        except ScheduleError as exc:
            raise Refused(422, exc.field, exc.code, exc.message) from exc
        if join_url and not self.settings.link_policy.allows(join_url):  # a link reaches parties (ADR 0072)
            raise Refused(422, "join_url", "link_not_allowed",
                          "视频链接须为本平台允许的视频会议地址（https，主机在 YIMA_LINK_HOSTS 中）")

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            if not case.get("mediators"):
                raise Refused(409, "mediators", "no_mediator", "请先指定调解员")
            party_ids = [p["party_id"] for p in case["parties"]]
            if fmt == "caucus" and caucus_party_id not in party_ids:
                raise Refused(422, "caucus_party_id", "unknown_party", "背靠背调解须指明单独会见的当事人")
            if mode != "async":
                self._check_parties_free(case, fmt, caucus_party_id, starts_at, ends_at)
            sid = str(uuid4())
            place, url = await self._place(s, case, sid, mode, room_id, join_url, starts_at, ends_at)
            order = party_order or party_ids
            if mode == "async" and (set(order) - set(party_ids) or len(order) < 2):
                raise Refused(422, "party_order", "bad_order", "错时调解须列出至少两位本案当事人的答复顺序")
            invited = await self.store.invitations.acting(case["_id"], s)
            await self.store.sessions.insert({
                "_id": sid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []),
                "mode": mode, "format": fmt, "kind": case.get("kind", "people"), "starts_at": starts_at,
                "ends_at": ends_at, "room_id": room_id if mode == "offline" else None, "place_zh": place,
                "join_url": url, "caucus_party_id": caucus_party_id, "party_order": order, "turns": [],
                "experts": [{"person_id": i["person_id"], "kind": i["kind"], "name": i["name"]} for i in invited],
                "state": "scheduled", "created_at": self.now(), "created_by": claims.sub}, s)
            when = fmt_local(starts_at)
            what = MODE_ZH[mode] + ("（背靠背）" if fmt == "caucus" else "")
            where = place or ("请凭查询码在查询页点击“进入视频调解”" if mode == "online"
                              else f"请在{fmt_local(ends_at)}前按顺序答复")
            await self._move(s, case, "schedule", states.IN_MEDIATION, None,
                             {"what": "scheduled", "session_id": sid, "text_zh": f"安排{what}：{when}，{where}"})
            msg = f"已为您安排{what}，时间：{when}，{where}。"
            out.append(Outgoing(topics.MEDIATION_SCHEDULED, MediationScheduled(
                **self._common(case, claims), session_id=sid, unit_code=case["unit_code"], mode=mode,  # type: ignore[arg-type]
                format=fmt, kind=case.get("kind", "people"), starts_at=starts_at, ends_at=ends_at,  # type: ignore[arg-type]
                place_zh=place, join_url=url, expert_kinds=sorted({i["kind"] for i in invited}),
                # each expert invited (and not declined) hears the time from notify, which knows their contact
                # from mediation.expert_invited: the persons, never their phones, travel here
                expert_person_ids=list(dict.fromkeys(i["person_id"] for i in invited))[:50],
                applicant_message_zh=msg[:300])))
            out.append(self._status(case, claims, CaseState.IN_MEDIATION, "已安排调解", msg,
                                    "请按时参加；如不能参加，请提前联系调解员",
                                    announced_by=MediationScheduled.EVENT_TYPE))
            return {"session_id": sid, "join_url": url, "place_zh": place, "state": "scheduled"}

        return await self._tx(work)

    @staticmethod
    def _check_parties_free(case: dict[str, Any], fmt: str, caucus_party_id: str | None, starts_at: datetime,
                            ends_at: datetime) -> None:
        avail = {pid: [Window(aware(w["start"]), aware(w["end"])) for w in ws]  # type: ignore[arg-type]
                 for pid, ws in case.get("availability", {}).items()
                 if fmt == "joint" or pid == caucus_party_id}
        busy = unavailable_parties(starts_at, ends_at, avail)
        if busy:
            raise Refused(409, "starts_at", "party_unavailable",
                          f"当事人{'、'.join(busy)}在该时间不方便，请按其可参加时间安排")

    async def _place(self, s: AsyncClientSession, case: dict[str, Any], sid: str, mode: str, room_id: str | None,
                     join_url: str | None, starts_at: datetime, ends_at: datetime) -> tuple[str | None, str | None]:
        """Where a session is held: an offline one books its room's slots (refused if taken), an online one
        gets its video link; an async one has neither."""
        if mode == "offline":
            room = await self.store.people.room(room_id or "", case["unit_code"], s)
            if room is None:
                raise Refused(422, "room_id", "unknown_room", "线下调解须选择本单位的调解室")
            slots = [{"_id": f"{room['_id']}|{t.isoformat()}", "room_id": room["_id"], "slot": t,
                      "session_id": sid} for t in room_slots(starts_at, ends_at)]
            if not await self.store.people.book_slots(slots, s):
                raise Refused(409, "room_id", "room_taken", f"{room['name_zh']}在该时间段已被预约")
            return room["name_zh"], None
        if mode == "online":
            return None, join_url or f"{self.settings.video_base_url.rstrip('/')}/{sid}"
        return None, None

    async def get_session(self, session_id: str, claims: StaffClaims) -> dict[str, Any]:
        ses = await self._session(session_id, claims)
        return {k: (aware(v) if isinstance(v, datetime) else v) for k, v in ses.items() if k != "_id"} | {
            "session_id": ses["_id"]}

    async def add_turn(self, session_id: str, claims: StaffClaims, party_id: str, statement: str) -> dict[str, Any]:
        ses = await self._session(session_id, claims)
        if ses["mode"] != "async" or ses["state"] != "scheduled":
            raise Refused(409, "session_id", "not_async", "该场次不是进行中的错时调解")
        now = self.now()
        if not aware(ses["starts_at"]) <= now <= aware(ses["ends_at"]):  # type: ignore[operator]
            raise Refused(409, "session_id", "outside_window", "不在答复期内")
        expected = next_turn(ses["party_order"], [t["party_id"] for t in ses["turns"]])
        if party_id != expected:
            raise Refused(409, "party_id", "not_your_turn", f"现在应由{expected}答复")
        turn = {"party_id": party_id, "statement": self._enc(statement, "turn"), "at": now}
        if not await self.store.sessions.add_turn(session_id, len(ses["turns"]), turn):
            raise Refused(409, "party_id", "concurrent_change", "对方刚刚答复，请刷新后重试")
        return {"turns": len(ses["turns"]) + 1,
                "next_party_id": next_turn(ses["party_order"], [*[t["party_id"] for t in ses["turns"]], party_id])}

    async def record_session(self, session_id: str, claims: StaffClaims, attended: list[str], absent: list[str],
                             summary: str, next_step: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            ses = await self._session(session_id, claims, s)
            if ses["state"] != "scheduled":
                raise Refused(409, "session_id", "already_recorded", "该场次已有记录，不能重复记录")
            starts_at = aware(ses["starts_at"])
            if starts_at is not None and self.now() < starts_at:
                raise Refused(409, "session_id", "not_started",
                              f"该场次定于{fmt_local(starts_at)}开始，开始前不能记录调解情况")
            case = await self._case(ses["assignment_id"], claims, s)
            party_ids = {p["party_id"] for p in case["parties"]}
            expected = {ses["caucus_party_id"]} if ses["format"] == "caucus" else party_ids
            unknown = set(absent) - party_ids
            if unknown:
                raise Refused(422, "absent", "unknown_party", "缺席名单中有非本案当事人")
            live = case["state"] in (states.IN_MEDIATION, states.PAUSED)  # else: recorded after the outcome
            no_show = bool(set(absent) & expected)
            applicant_attended = "p1" in attended or ("p1" in expected and "p1" not in absent)
            record = {"attended": attended, "absent": absent, "summary": self._enc(summary, "record.summary"),
                      "next_step": next_step, "recorded_by": claims.sub, "at": self.now()}
            await self.store.sessions.record(session_id, "no_show" if no_show else "held", record, s)
            paused = False
            if not live:
                await self._move(s, case, "record", None, None,
                                 {"what": "held", "session_id": session_id, "text_zh": f"补录调解记录：{next_step}"})
                out.append(self._held(ses, case, claims, applicant_attended, no_show, False, next_step))
                return {"state": "no_show" if no_show else "held", "case_state": case["state"]}
            if no_show:
                shows = case.get("no_shows", 0) + 1
                if shows >= self.settings.no_shows_before_failure:
                    return await self._fail_for_no_shows(s, out, ses, case, claims, applicant_attended, shows)
                await self._move(s, case, "record", states.PAUSED, {"no_shows": shows},
                                 {"what": "no_show", "session_id": session_id, "text_zh": "当事人未到场，调解暂停"})
                paused = True
                out.append(self._status(case, claims, CaseState.IN_MEDIATION, "当事人未到场，调解暂停",
                                        "本次调解因当事人未到场未能进行", "调解员将与各方联系，重新约定调解时间"))
            else:
                await self._move(s, case, "record", states.IN_MEDIATION, None,
                                 {"what": "held", "session_id": session_id, "text_zh": f"调解记录：下一步{next_step}"})
            out.append(self._held(ses, case, claims, applicant_attended, no_show, paused, next_step))
            return {"state": "no_show" if no_show else "held", "case_state": states.PAUSED if paused else
                    states.IN_MEDIATION}

        return await self._tx(work)

    async def _fail_for_no_shows(self, s: AsyncClientSession, out: list[Outgoing], ses: dict[str, Any],
                                 case: dict[str, Any], claims: StaffClaims, applicant_attended: bool, shows: int
                                 ) -> dict[str, Any]:
        reason = "当事人经通知多次无正当理由未到场，视为不同意继续调解"
        await self._move(s, case, "fail", states.FAILED, {"no_shows": shows, "fail_reason": reason},
                         {"what": "failed", "text_zh": reason})
        out.append(self._held(ses, case, claims, applicant_attended, True, False, "调解终止，将转入其他解决途径"))
        out.append(self._concluded_failure(case, claims, reason, "transfer"))
        return {"state": states.FAILED, "no_show": True}

    async def _session(self, session_id: str, claims: StaffClaims, s: AsyncClientSession | None = None
                       ) -> dict[str, Any]:
        ses = await self.store.sessions.get(session_id, s)
        if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())):
            raise Refused(404, "session_id", "not_found", "未找到该调解场次")
        return ses

    def _held(self, ses: dict[str, Any], case: dict[str, Any], claims: StaffClaims, applicant_attended: bool,
              no_show: bool, paused: bool, next_step: str) -> Outgoing:
        return Outgoing(topics.MEDIATION_SESSION_HELD, MediationSessionHeld(
            **self._common(case, claims), session_id=ses["_id"], unit_code=case["unit_code"],
            applicant_attended=applicant_attended, no_show=no_show, case_paused=paused,
            next_step_zh=next_step[:300]))
