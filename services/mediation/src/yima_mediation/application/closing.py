"""Closing and transfer: judicial confirmation (sent, answered), closing after an agreement, a failed
mediation (escalated or to be transferred), the transfer with its case file (a zip with a manifest and its
SHA-256), and the file's download."""

from __future__ import annotations

import base64
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import CaseTransferred, topics
from yima_contracts.codes import CaseState, FeedbackKind, Outcome
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.case import MediationCase
from ..core.package import build_package, json_file
from ..core.timefmt import aware
from .base import ERASED_ZH, TRANSFER_ZH, Refused, ServiceBase


class Closing(ServiceBase):
    async def request_judicial(self, assignment_id: str, claims: StaffClaims, court_zh: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            if case.get("judicial"):
                raise Refused(409, "judicial", "already_requested", "已申请司法确认")
            j = {"court_zh": court_zh, "state": "sent", "sent_at": self.now()}
            await self._move(s, case, "judicial", None, {"judicial": j},
                             {"what": "judicial_sent", "text_zh": f"向{court_zh}申请司法确认"})
            out.append(self._status(case, claims, CaseState.RESOLVED, "已申请司法确认",
                                    f"调解协议已提交{court_zh}申请司法确认", "法院审查后将通知您结果"))
            return {"judicial": j}

        return await self._tx(work)

    async def judicial_answer(self, assignment_id: str, claims: StaffClaims, confirmed: bool, ruling_no: str | None,
                              reason: str | None) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            j = case.get("judicial")
            if not j or j["state"] != "sent":
                raise Refused(409, "judicial", "not_pending", "没有待答复的司法确认申请")
            j = {**j, "state": "confirmed" if confirmed else "rejected", "ruling_no": ruling_no, "reason": reason,
                 "answered_at": self.now()}
            await self._move(s, case, "judicial", None, {"judicial": j}, {
                "what": "judicial_answer",
                "text_zh": f"法院{'裁定确认协议有效' if confirmed else '裁定不予确认'}"
                           + (f"（{ruling_no}）" if ruling_no else "")})
            title = "法院已确认调解协议有效" if confirmed else "法院未予司法确认"
            nxt = "协议具有强制执行力，对方不履行的可申请强制执行" if confirmed else "您可就原纠纷申请仲裁或向法院起诉"
            out.append(self._status(case, claims, CaseState.RESOLVED, title, (reason or "")[:200], nxt))
            return {"judicial": j}

        return await self._tx(work)

    async def close(self, assignment_id: str, claims: StaffClaims) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            j = case.get("judicial")
            if j and j["state"] == "sent":
                raise Refused(409, "judicial", "pending", "司法确认尚未答复，暂不能结案")
            outcome = Outcome.JUDICIAL_CONFIRMATION if j and j["state"] == "confirmed" else Outcome.AGREEMENT
            await self._move(s, case, "close", states.CLOSED, {"closed_at": self.now(), "outcome": outcome.value},
                             {"what": "closed", "text_zh": "结案"})
            out.extend(self._closing(case, claims, outcome, True))
            await self.audit.append(s, actor=claims, action="case.close", object_type="assignment",
                                    object_id=assignment_id, detail=f"outcome={outcome.value}")
            return {"state": states.CLOSED, "outcome": outcome.value}

        return await self._tx(work)

    async def fail(self, assignment_id: str, claims: StaffClaims, reason: str, nxt: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            new = states.ESCALATED if nxt == "escalate" else states.FAILED
            await self._move(s, case, "fail", new, {"fail_reason": reason},
                             {"what": "failed", "text_zh": f"调解不成：{reason}"})
            out.append(self._concluded_failure(case, claims, reason, nxt))
            if nxt == "escalate":
                # The supervisor (routing) re-assigns a level up: the same answer a department system would give.
                out.append(self._feedback(case, claims, FeedbackKind.FAILED, reason=f"{reason}；建议提交上一级调解"))
            return {"state": new}

        return await self._tx(work)

    async def transfer(self, assignment_id: str, claims: StaffClaims, to: str, receiving_body: str) -> dict[str, Any]:
        case0 = await self._case(assignment_id, claims)
        MediationCase.of(case0).move("transfer")
        data, digest, manifest = await self._package(case0, to, receiving_body)

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            pid = str(uuid4())
            await self.store.documents.insert_package({
                "_id": pid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []), "sha256": digest, "size": len(data),
                "zip": self._enc(base64.b64encode(data).decode(), "package.zip"), "to": to,
                "receiving_body_zh": receiving_body, "created_at": self.now()}, s)
            await self._move(s, case, "transfer", states.TRANSFERRED,
                             {"package_id": pid, "package_sha256": digest, "transferred_to": to,
                              "closed_at": self.now(), "outcome": to},
                             {"what": "transferred",
                              "text_zh": f"转{receiving_body}（{TRANSFER_ZH[to]}），卷宗SHA-256 {digest}"})
            msg = (f"调解未成功，您的纠纷已依法转交{receiving_body}（{TRANSFER_ZH[to]}），"
                   "案件材料已一并移交，无需重复提交。")
            out.append(Outgoing(topics.CASE_TRANSFERRED, CaseTransferred(
                **self._common(case, claims), to=to, unit_code=case["unit_code"],  # type: ignore[arg-type]
                receiving_body_zh=receiving_body, file_package_id=pid, file_package_sha256=digest,
                applicant_message_zh=msg[:300])))
            out.append(self._status(case, claims, CaseState.TRANSFERRED, f"已转入{TRANSFER_ZH[to]}程序", msg,
                                    f"{receiving_body}将依法处理并与您联系"))
            out.extend(self._closing(case, claims, Outcome(to), False))
            await self.audit.append(s, actor=claims, action="case.transfer", object_type="assignment",
                                    object_id=assignment_id, detail=f"to={to} package={pid} sha256={digest}")
            return {"state": states.TRANSFERRED, "package_id": pid, "sha256": digest, "files": manifest["files"]}

        return await self._tx(work)

    async def _package(self, case: dict[str, Any], to: str, receiving_body: str
                       ) -> tuple[bytes, str, dict[str, Any]]:
        """The case file: the case, its timeline, its sessions (with records), invitations and documents."""
        view = self.case_view(case, detail=True, contact=True)  # the file for the court: in full
        sessions = []
        for ses in await self.store.sessions.of_case(case["_id"]):
            rec = ses.get("record")
            sessions.append({
                "session_id": ses["_id"], "mode": ses["mode"], "format": ses["format"], "kind": ses["kind"],
                "starts_at": aware(ses["starts_at"]), "ends_at": aware(ses["ends_at"]), "place_zh": ses["place_zh"],
                "join_url": ses["join_url"], "state": ses["state"], "experts": ses.get("experts", []),
                "turns": [{"party_id": t["party_id"], "at": aware(t["at"]),
                           "statement": self._dec(t["statement"], "turn")} for t in ses.get("turns", [])],
                "record": {**{k: v for k, v in rec.items() if k != "summary"},
                           "summary": self._dec(rec["summary"], "record.summary")} if rec else None})
        invitations = [{k: v for k, v in i.items() if k not in ("_id", "code_idx", "check_idx")}
                       for i in await self.store.invitations.of_case(case["_id"])]
        files: dict[str, bytes] = {"case.json": json_file(view), "sessions.json": json_file(sessions),
                                   "invitations.json": json_file(invitations)}
        ag = await self.store.documents.agreement_of_case(case["_id"])
        if ag and ag["state"] == "signed":
            files[f"documents/agreement-{ag['agreement_no']}.pdf"] = base64.b64decode(
                self._dec(ag["pdf"], "agreement.pdf"))
        manifest = {"case_id": case["case_id"], "case_number": case["case_number"], "assignment_id": case["_id"],
                    "court_reference": case.get("court_reference"),
                    "from_unit": {"code": case["unit_code"], "name": case.get("unit_name")},
                    "to": to, "receiving_body_zh": receiving_body, "created_at": self.now().isoformat()}
        data, digest = build_package(manifest, files)
        return data, digest, {**manifest, "files": sorted(files)}

    async def package_zip(self, package_id: str, claims: StaffClaims, reason: str | None = None
                          ) -> tuple[bytes, str]:
        """The transfer package; ``reason``: as for :meth:`agreement_pdf`."""
        p = await self.store.documents.package(package_id)
        if p is None or not claims.may_act_on(p["unit_code"], p.get("unit_path", ())):
            raise Refused(404, "package_id", "not_found", "未找到该卷宗")
        if p.get("zip") is None:  # erased when the case's retention period ended (ADR 0125)
            raise Refused(410, "package_id", "erased", ERASED_ZH)
        await self._document_read(claims, {"_id": p["assignment_id"], "unit_code": p["unit_code"]}, "package", reason)
        return base64.b64decode(self._dec(p["zip"], "package.zip")), p["sha256"]
