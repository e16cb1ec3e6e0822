"""Agreements: the draft, each party's confirmation, signing (the PDF printed, numbered, archived with its
SHA-256 in the same transaction as the case's move), the signed PDF, and the public check by digest."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import MediationConcluded, topics
from yima_contracts.codes import FeedbackKind, Outcome
from yima_contracts.personal import mask_phone
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.agreement import AgreementDoc, AgreementParty, Confirmation, sha256_hex
from ..core.case import MediationCase
from ..core.timefmt import aware
from ..ports import DocumentsUnavailable
from .base import ERASED_ZH, EXPERT_KIND_ZH, Refused, ServiceBase


class Agreements(ServiceBase):
    async def draft_agreement(self, assignment_id: str, claims: StaffClaims, facts: str, terms: list[str]
                              ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            MediationCase.of(case).move("draft_agreement")
            if len(case["parties"]) < 2:
                raise Refused(422, "parties", "one_party", "调解协议至少需要两方当事人，请先登记被申请人")
            doc = {"assignment_id": case["_id"], "case_id": case["case_id"], "state": "draft",
                   "facts": self._enc(facts, "agreement.facts"),
                   "terms": [self._enc(t, "agreement.terms") for t in terms], "confirmations": [],
                   "updated_at": self.now()}
            existing = await self.store.documents.agreement_of_case(case["_id"], s)
            if existing and existing["state"] == "signed":
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            if existing:
                await self.store.documents.update_draft(existing["_id"], doc, s)
                return {"agreement_id": existing["_id"], "state": "draft"}
            aid = str(uuid4())
            await self.store.documents.insert_agreement({"_id": aid, **doc, "created_at": self.now()}, s)
            await self.store.cases.set_agreement(case["_id"], aid, s)
            return {"agreement_id": aid, "state": "draft"}

        return await self._tx(work)

    async def _agreement(self, agreement_id: str, claims: StaffClaims, s: AsyncClientSession | None = None
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
        ag = await self.store.documents.agreement(agreement_id, s)
        if ag is None:
            raise Refused(404, "agreement_id", "not_found", "未找到该调解协议")
        return ag, await self._case(ag["assignment_id"], claims, s)

    async def confirm(self, agreement_id: str, claims: StaffClaims, party_id: str, method: str) -> dict[str, Any]:
        _, case = await self._agreement(agreement_id, claims)
        if party_id not in {p["party_id"] for p in case["parties"]}:
            raise Refused(422, "party_id", "unknown_party", "本案没有这位当事人")
        if not await self.store.documents.add_confirmation(
                agreement_id, {"party_id": party_id, "method": method, "at": self.now(), "by": claims.sub}):
            raise Refused(409, "agreement", "not_confirmable", "协议已签署或该当事人已确认")
        return {"agreement_id": agreement_id, "confirmed": party_id}

    async def agreement_view(self, agreement_id: str, claims: StaffClaims) -> dict[str, Any]:
        """The agreement as staff see it in the console: its state, text, confirmations (the PDF once signed)."""
        ag, case = await self._agreement(agreement_id, claims)
        return {"agreement_id": ag["_id"], "state": ag["state"], "facts_zh": self._dec(ag["facts"], "agreement.facts"),
                "case_number": case["case_number"], "court_reference": case.get("court_reference"),
                "terms": [self._dec(t, "agreement.terms") for t in ag["terms"]],
                "confirmations": [{"party_id": c["party_id"], "method": c["method"], "at": aware(c["at"])}
                                  for c in ag.get("confirmations", [])],
                "agreement_no": ag.get("agreement_no"), "sha256": ag.get("sha256")}

    async def sign(self, agreement_id: str, claims: StaffClaims) -> dict[str, Any]:
        try:  # before the transaction: on a fresh machine the font is fetched first
            await self.printer.ready()
        except DocumentsUnavailable as exc:
            raise Refused(503, "font", "font_unavailable", str(exc)) from exc

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            ag, case = await self._agreement(agreement_id, claims, s)
            if ag["state"] == "signed":
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            if not await self.store.sessions.any_held(case["_id"], s):
                raise Refused(409, "sessions", "no_session_held",
                              "尚无已举行并记录的调解场次，不能签署调解协议：请先在调解开始后记录调解情况")
            confirmed = {c["party_id"]: c for c in ag["confirmations"]}
            missing = [p["party_id"] for p in case["parties"] if p["party_id"] not in confirmed]
            if missing:
                raise Refused(409, "confirmations", "unconfirmed", f"尚有当事人未确认协议：{'、'.join(missing)}")
            signed_at = self.now().replace(microsecond=0)
            seq = await self.store.documents.next_number(f"agreement|{case['unit_code']}|{signed_at.year}", s)
            agreement_no = f"{case['unit_code']}-调-{signed_at.year}-{seq:05d}"
            doc = await self._agreement_doc(s, ag, case, agreement_no, signed_at)
            pdf = await self.printer.render(doc)
            digest = sha256_hex(pdf)
            if not await self.store.documents.update_draft(agreement_id, {
                "state": "signed", "signed_at": signed_at, "agreement_no": agreement_no, "sha256": digest,
                "pdf": self._enc(base64.b64encode(pdf).decode(), "agreement.pdf"), "size": len(pdf),
                "kind": doc.kind, "unit_code": case["unit_code"], "unit_name": doc.unit_name}, s):
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            await self._move(s, case, "sign", states.AGREED, {"agreement_id": agreement_id, "agreement_sha256": digest},
                             {"what": "agreement", "text_zh": f"签署调解协议书{agreement_no}（SHA-256 {digest}）"})
            msg = f"调解成功，各方已签署调解协议书（编号{agreement_no}），可凭协议摘要在平台核验真伪。"
            out.append(Outgoing(topics.MEDIATION_CONCLUDED, MediationConcluded(
                **self._common(case, claims), success=True, unit_code=case["unit_code"], outcome=Outcome.AGREEMENT,
                agreement_id=agreement_id, agreement_sha256=digest, applicant_message_zh=msg)))
            # Routing's answer to this feedback is the applicant's "resolved" step (see ADR 0041).
            out.append(self._feedback(case, claims, FeedbackKind.RESOLVED, note=f"达成调解协议{agreement_no}"))
            await self.audit.append(s, actor=claims, action="agreement.sign", object_type="agreement",
                                    object_id=agreement_id, detail=f"{agreement_no} sha256={digest}")
            return {"agreement_id": agreement_id, "agreement_no": agreement_no, "sha256": digest, "size": len(pdf)}

        return await self._tx(work)

    async def _agreement_doc(self, s: AsyncClientSession, ag: dict[str, Any], case: dict[str, Any],
                             agreement_no: str, signed_at: datetime) -> AgreementDoc:
        """What the signed document says: the parties in full (a legal document), their phones masked."""
        names = {p["party_id"]: self._dec(p["name"], "party.name") for p in case["parties"]}
        experts = [f"{EXPERT_KIND_ZH[i['kind']]}{i['name']}"
                   for i in await self.store.invitations.accepted(case["_id"], s)]
        return AgreementDoc(
            agreement_no=agreement_no, kind=case.get("kind", "people"), unit_name=case.get("unit_name", ""),
            case_number=case["case_number"], court_reference=case.get("court_reference"),
            parties=[AgreementParty(p["role"], names[p["party_id"]],
                                    mask_phone(self._dec(p["phone"], "party.phone")) if p.get("phone") else "")
                     for p in case["parties"]],
            facts_zh=self._dec(ag["facts"], "agreement.facts"),
            terms=[self._dec(t, "agreement.terms") for t in ag["terms"]],
            mediators=[m["name"] for m in case.get("mediators", [])], experts=experts,
            confirmations=[Confirmation(names[c["party_id"]], c["method"], aware(c["at"]))  # type: ignore[arg-type]
                           for c in ag["confirmations"]],
            signed_at=signed_at)

    async def agreement_pdf(self, agreement_id: str, claims: StaffClaims, reason: str | None = None
                            ) -> tuple[bytes, str]:
        """The signed PDF; ``reason``: required of those who see the parties masked (:meth:`_document_read`)."""
        ag, case = await self._agreement(agreement_id, claims)
        if ag["state"] != "signed":
            raise Refused(409, "agreement", "not_signed", "协议尚未签署，没有正式文本")
        if ag.get("pdf") is None:  # erased when the case's retention period ended (ADR 0125)
            raise Refused(410, "agreement", "erased", ERASED_ZH)
        await self._document_read(claims, case, "agreement", reason)
        return base64.b64decode(self._dec(ag["pdf"], "agreement.pdf")), ag["agreement_no"]

    async def verify(self, digest: str) -> dict[str, Any] | None:
        ag = await self.store.documents.signed(digest.lower())
        if ag is None:
            return None
        return {"valid": True, "agreement_no": ag["agreement_no"], "kind": ag["kind"], "unit_name": ag["unit_name"],
                "signed_at": aware(ag["signed_at"]), "sha256": ag["sha256"]}
