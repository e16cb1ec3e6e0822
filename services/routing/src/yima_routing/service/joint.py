"""吹哨报到: the unit holding a case summons further units (or a rule does, 全科会诊); each reports in, from
yima's console or its own system (``case.joint_report.v1`` on its ``unit.<code>.feedback``); whoever has not
reported by ``report_by`` is reminded once. The lead unit keeps the responsibility."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from yima_contracts import Actor, topics
from yima_contracts.codes import SupervisionStep
from yima_contracts.routing_events import JointReport, JointSummoned, SupervisionNotice
from yima_kit.auth import StaffClaims
from yima_kit.consumer import PermanentError, Tx

from ..core.case import Case
from .base import SYSTEM, Refused, ServiceBase, fmt_time, staff_actor

JOINT_REPORT_WHAT_ZH = "到场时间、参加人员、已做的处置和意见"
HOW_TO_REPORT_ZH = ("在平台“吹哨报到”中报到（POST /api/v1/joint/{joint_id}/report），"
                    "或由本单位系统在本单位反馈主题 unit.<单位代码>.feedback 上报到（case.joint_report.v1）")


class JointSummons(ServiceBase):
    async def summon(self, claims: StaffClaims, case_id: str, units: list[str], reason: str, tx: Tx) -> str:
        """吹哨报到: the unit holding the case summons others; each must report in; the lead keeps responsibility."""
        case = await self.cases.get(case_id, tx.session)
        if not case or not case.assigned:
            raise Refused(404, "not_found", "案件不存在或尚未分派")
        a = await self._own_assignment(claims, case.assigned, tx, supervisor_too=False)
        d = self.directory
        unknown = [u for u in units if d.get(u) is None or u == a.unit_code]
        if unknown:
            raise Refused(422, "unknown_unit", f"不能召集这些单位：{'、'.join(unknown)}")
        return await self._summon(case, a.id, a.unit_code, units, reason, staff_actor(claims), tx)

    async def _summon(self, case: Case, assignment_id: str, lead: str, units: list[str], reason: str,
                      actor: Actor, tx: Tx) -> str:
        now = self.now()
        report_by, _ = self.calendar.add_working_days(now, 1)
        if self.ensure_topic is not None:  # a unit's own system reports on its feedback topic: it must exist
            for u in units:
                await self.ensure_topic(u)  # idempotent, cached per process (ADR 0021)
        joint_id = str(uuid4())
        await self.joints.insert({"_id": joint_id, "case_id": case.id, "assignment_id": assignment_id,
                                  "case_number": case.facts.case_number if case.facts else None,
                                  "lead_unit_code": lead, "reason": reason, "at": now,
                                  "report_by": report_by, "reminded": False, "claimed_until": None,
                                  "unit_codes": list(units),
                                  "units": {u: {"reported_at": None, "note": None} for u in units}},
                                 tx.session)
        lead_unit = self.directory.get(lead)
        tx.emit(topics.CASE_JOINT_SUMMONED, JointSummoned(
            case_id=case.id, correlation_id=case.correlation_id, actor=actor,
            lead_unit_code=lead, summoned_unit_codes=units, reason_zh=reason[:300], report_by=report_by,
            joint_id=joint_id, lead_unit_name=lead_unit.name if lead_unit else None,
            report_what_zh=JOINT_REPORT_WHAT_ZH))
        return joint_id

    async def report_in(self, claims: StaffClaims, joint_id: str, note: str, tx: Tx) -> dict[str, Any]:
        """A summoned unit reports in from yima's console (the same as a ``case.joint_report`` on Kafka)."""
        return await self._report_in(joint_id, claims.unit, note, claims.sub, tx)

    async def on_joint_report(self, event: JointReport, tx: Tx) -> None:
        """A summoned unit reports in from its own system (on its unit.<code>.feedback topic, or ``case.joint_report``
        by an authorised principal). A report on a summons
        that does not exist or does not summon that unit cannot be applied: dead-lettered with the reason."""
        try:
            await self._report_in(event.joint_id, event.unit_code, event.note, f"system:{event.unit_code}", tx,
                                  case_id=event.case_id)
        except Refused as exc:
            raise PermanentError(f"joint report {event.joint_id} by {event.unit_code}: {exc.message}") from exc

    async def _report_in(self, joint_id: str, unit: str, note: str, by: str, tx: Tx,
                         case_id: str | None = None) -> dict[str, Any]:
        j = await self.joints.get(joint_id, tx.session)
        if j is None or unit not in j["units"] or (case_id is not None and j["case_id"] != case_id):
            raise Refused(404, "not_found", "没有找到召集本单位的联合处置")
        if not (j["units"][unit].get("reported_at") and j["units"][unit].get("note") == note):
            # (the same report again — a redelivery or a resend — is nothing new)
            await self.joints.record_report(joint_id, unit, {"reported_at": self.now(), "note": note, "by": by},
                                            tx.session)
        j = await self.joints.get(joint_id, tx.session)
        assert j is not None
        missing = [u for u, r in j["units"].items() if not r.get("reported_at")]
        return {"joint_id": joint_id, "waiting_for": missing}

    async def open_summons(self, unit: str) -> list[dict[str, Any]]:
        """吹哨报到 a unit has been summoned to and not yet reported on (its own system may poll this too)."""
        out = []
        for j in await self.joints.open_for(unit):
            case = await self.cases.number_and_ended(j["case_id"])
            if case is None or case[1]:
                continue
            out.append(self._summons_view(j, case[0]))
        return out

    async def summons(self, joint_id: str) -> dict[str, Any] | None:
        j = await self.joints.get(joint_id)
        if j is None:
            return None
        case = await self.cases.number_and_ended(j["case_id"])
        names = {u.code: u.name for code in j["units"] if (u := self.directory.get(code)) is not None}
        return self._summons_view(j, case[0] if case else None) | {"units": {
            u: {"name": names.get(u, u), "reported_at": r.get("reported_at"), "note": r.get("note")}
            for u, r in j["units"].items()}}

    def _summons_view(self, j: dict[str, Any], case_number: str | None) -> dict[str, Any]:
        lead = self.directory.get(j["lead_unit_code"])
        return {"joint_id": j["_id"], "case_id": j["case_id"],
                "case_number": j.get("case_number") or case_number,
                "lead_unit_code": j["lead_unit_code"], "lead_unit_name": lead.name if lead else None,
                "reason_zh": j["reason"], "summoned_at": j["at"], "report_by": j["report_by"],
                "report_what_zh": JOINT_REPORT_WHAT_ZH, "how_to_report_zh": HOW_TO_REPORT_ZH}

    async def joint_of_unit(self, code: str) -> list[dict[str, Any]]:
        """Every joint action the unit leads or was summoned to (the console)."""
        out = []
        for j in await self.joints.of_unit(code, 200):
            case = await self.cases.number_and_ended(j["case_id"])
            out.append({"joint_id": j["_id"], "case_id": j["case_id"], "case_number": case[0] if case else None,
                        "lead_unit_code": j["lead_unit_code"], "reason": j["reason"], "at": j["at"],
                        "report_by": j["report_by"], "units": j["units"], "lead": j["lead_unit_code"] == code})
        return out

    async def remind_joint(self, joint_id: str, tx: Tx) -> bool:
        """吹哨报到: at ``report_by`` every summoned unit that has not reported in gets a notice from the lead unit.
        Fires once (conditional on ``reminded`` still being false)."""
        j = await self.joints.get(joint_id, tx.session)
        if j is None or j.get("reminded"):
            return False
        if not await self.joints.claim_reminder(joint_id, tx.session):
            return False
        missing = [u for u, r in j["units"].items() if not r.get("reported_at")]
        case = await self.cases.get(j["case_id"], tx.session)
        if not missing or case is None or case.ended:
            return True
        d = self.directory
        lead = d.get(j["lead_unit_code"])
        for code in missing:
            unit = d.get(code)
            tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
                case_id=j["case_id"], correlation_id=case.correlation_id, actor=SYSTEM,
                assignment_id=j["assignment_id"], step=SupervisionStep.NOTICE, unit_code=code,
                supervisor_unit_code=j["lead_unit_code"], due_at=j["report_by"], joint_id=joint_id,
                message_zh=(f"【吹哨报到】{unit.name if unit else code}未在{fmt_time(j['report_by'])}前报到，"
                            f"请立即与牵头单位{lead.name if lead else j['lead_unit_code']}联系并参与联合处置。")[:300]))
        return True
