"""Experts and their invitations: inviting (checked for conflicts of interest), the answer (by staff, or by
the expert on their own page, /invite), resending the SMS with a new code, and what the expert's page shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import ExpertAnswered, ExpertInvited, topics
from yima_contracts.codes import Category
from yima_contracts.mediation_events import ExpertAnswer
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.case import MediationCase
from ..core.invite_code import new_invite_code, validate_invite_code
from ..core.timefmt import aware
from .base import EXPERT_KIND_ZH, MODE_ZH, InviteLocked, InviteNotFound, Refused, ServiceBase


class Invitations(ServiceBase):
    async def invite(self, assignment_id: str, claims: StaffClaims, person_id: str, session_id: str | None
                     ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            MediationCase.of(case).move("invite")
            p = await self.store.people.get(person_id, s, active=True)
            if p is None or p["kind"] == "mediator":
                raise Refused(422, "person_id", "not_an_expert", "专家库中没有这位专家")
            name = self._dec(p["name"], "person.name")
            ses = None
            if session_id:
                ses = await self.store.sessions.of_case_one(session_id, case["_id"], s)
                if ses is None:
                    raise Refused(422, "session_id", "unknown_session", "本案没有这个调解场次")
            reasons = self._conflicts(p, case)
            inv = {"_id": str(uuid4()), "assignment_id": case["_id"], "case_id": case["case_id"],
                   "person_id": person_id, "kind": p["kind"], "name": name, "session_id": session_id,
                   "state": "refused" if reasons else "invited", "reasons": reasons, "at": self.now()}
            # The expert's own page (/invite/{code}) is opened with the last four digits of their phone: without
            # a phone there is no check, and no SMS to carry the code, so no code. Only keyed hashes are kept.
            phone = self._dec(p["phone"], "person.phone") if p.get("phone") else None
            code = new_invite_code() if phone and not reasons else None
            if code and phone:
                inv |= {"code_idx": self._code_idx(code), "check_idx": self._check_idx(inv["_id"], phone[-4:])}
            if reasons:
                await self.store.invitations.insert(inv)  # kept outside the aborted transaction: the refusal is audited
                raise Refused(409, "person_id", "conflict_of_interest",
                              f"{EXPERT_KIND_ZH[p['kind']]}{name}{reasons[0]}",
                              [{"field": "person_id", "code": "conflict_of_interest", "message": r} for r in reasons])
            await self.store.invitations.insert(inv, s)
            await self.store.cases.note(case["_id"], {
                "at": self.now(), "what": "invited", "text_zh": f"邀请{EXPERT_KIND_ZH[p['kind']]}{name}参与调解"}, s)
            # The expert hears of it (notify): in the same transaction as the invitation, so neither goes alone.
            out.append(self._invited(case, claims, inv, p, ses, code))
            return {"invitation_id": inv["_id"], "state": "invited"}

        return await self._tx(work)

    def _invited(self, case: dict[str, Any], claims: StaffClaims, inv: dict[str, Any], person: dict[str, Any],
                 ses: dict[str, Any] | None, code: str | None) -> Outgoing:
        unit_name = case.get("unit_name") or case["unit_code"]
        reply = (f"请打开短信中的链接答复是否参加，也可联系{unit_name}" if code
                 else f"请尽快联系{unit_name}答复是否参加")
        return Outgoing(topics.MEDIATION_EXPERT_INVITED, ExpertInvited(
            **self._common(case, claims), invitation_id=inv["_id"], assignment_id=case["_id"],
            unit_code=case["unit_code"], unit_name=unit_name[:100], person_id=inv["person_id"],
            expert_kind=person["kind"], expert_name=inv["name"][:50],
            expert_phone=self._dec(person["phone"], "person.phone") if person.get("phone") else None,
            case_number=case["case_number"], category=Category(case["category"]),
            session_id=ses["_id"] if ses else None, mode=ses["mode"] if ses else None,
            starts_at=aware(ses["starts_at"]) if ses else None, place_zh=ses.get("place_zh") if ses else None,
            join_url=ses.get("join_url") if ses else None,
            reply_zh=reply[:200], invitation_code=code))

    # the invitation's state after an answer → what the desk is told (a refusal here is always a conflict)
    ANSWERS: ClassVar[dict[str, ExpertAnswer]] = {"accepted": "accepted", "declined": "declined",
                                                  "refused": "refused_conflict"}

    def _answered(self, case: dict[str, Any], claims: StaffClaims | None, inv: dict[str, Any], state: str,
                  reason: str | None) -> Outgoing:
        return Outgoing(topics.MEDIATION_EXPERT_ANSWERED, ExpertAnswered(
            **self._common(case, claims), invitation_id=inv["_id"], assignment_id=case["_id"],
            unit_code=case["unit_code"], person_id=inv["person_id"], expert_kind=inv["kind"],
            expert_name=inv["name"][:50], answer=self.ANSWERS[state],
            reason_zh=reason[:500] if reason else None, answered_by="staff" if claims else "expert",
            case_number=case["case_number"]))

    async def answer_invitation(self, invitation_id: str, claims: StaffClaims, accept: bool, reason: str | None
                                ) -> dict[str, Any]:
        """Staff record an expert's answer (given by phone, in person)."""
        inv = await self.store.invitations.get(invitation_id)
        if inv is None:
            raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
        await self._case(inv["assignment_id"], claims)
        return await self._answer(invitation_id, claims, accept, reason)

    async def answer_as_expert(self, invitation: dict[str, Any], accept: bool, reason: str | None) -> dict[str, Any]:
        """The expert answers on their own page (the caller has opened the invitation with its code and check)."""
        return await self._answer(invitation["_id"], None, accept, reason)

    async def _answer(self, invitation_id: str, claims: StaffClaims | None, accept: bool, reason: str | None
                      ) -> dict[str, Any]:
        """One logic for both answers: only an invitation still waiting is answered, only while the case is in
        mediation; an acceptance is checked again for conflicts of interest (a party added since the invitation
        may be the expert's relative or employer) — a conflict turns the invitation into a refusal. The case's
        timeline says who answered; the audit chain records it in the same transaction."""
        by_expert = claims is None

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            inv = await self.store.invitations.get(invitation_id, s)
            if inv is None:
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            if inv["state"] != "invited":
                raise Refused(409, "state", "already_answered",
                              "因存在应当回避的情形，不能参加本案调解" if inv["state"] == "refused" else "该邀请已答复")
            case = await self.store.cases.get(inv["assignment_id"], s)
            if case is None:
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            MediationCase.of(case).move("answer_invitation", refusal_zh="本案调解已结束或尚未开始，无需答复")
            who = f"{EXPERT_KIND_ZH.get(inv['kind'], inv['kind'])}{inv['name']}"
            p = await self.store.people.get(inv["person_id"], s) if accept else None
            reasons = self._conflicts(p, case) if p else []
            new = "refused" if reasons else ("accepted" if accept else "declined")
            upd: dict[str, Any] = {"state": new, "answered_at": self.now(),
                                   "answered_by": "expert" if by_expert else f"staff:{claims.sub if claims else ''}"}
            if reasons:
                upd["reasons"] = reasons
            else:
                upd["answer_reason"] = reason
            if not await self.store.invitations.answer(invitation_id, upd, s):
                raise Refused(409, "state", "already_answered", "该邀请已答复")
            text = (f"{who}答复同意，但{reasons[0]}，已改为不予邀请" if reasons
                    else f"{who}{'同意' if accept else '谢绝'}参加调解" + ("（本人在线答复）" if by_expert else "")
                    + (f"：{reason}" if reason and not accept else ""))
            await self.store.cases.note(case["_id"], {
                "at": self.now(), "what": "invitation_answered", "text_zh": text[:300]}, s)
            await self.audit.append(s, actor=claims or f"expert:{inv['person_id']}", action="invitation.answer",
                                    object_type="invitation", object_id=invitation_id,
                                    detail=f"state={new} by={'expert' if by_expert else 'staff'}")
            # The hosting unit's desk hears it at once (notify), in the same transaction as the answer: a
            # decline or a refusal means it must invite someone else. Staged for a refusal too: it commits.
            out.append(self._answered(case, claims, inv, new, "；".join(reasons) if reasons else reason))
            return {"invitation_id": invitation_id, "state": new, "reasons": reasons, "who": who}

        result = await self._tx(work)
        if result["reasons"]:  # committed as a refusal; the caller hears why it was not an acceptance
            # The expert reads it on their page: a message naming no party. Staff read the reason itself.
            message = ("因存在应当回避的情形，按规定不能参加本案调解" if by_expert
                       else f"{result['who']}{result['reasons'][0]}，已改为不予邀请")
            raise Refused(409, "accept", "conflict_of_interest", message,
                          [{"field": "accept", "code": "conflict_of_interest", "message": r}
                           for r in result["reasons"]])
        return {"invitation_id": invitation_id, "state": result["state"]}

    async def resend_invitation(self, invitation_id: str, claims: StaffClaims, assignment_id: str | None = None
                                ) -> dict[str, Any]:
        """Staff send an expert the invitation SMS again (lost or deleted): a NEW code replaces the old one, which
        stops opening the page at once (a text lying around on an old phone opens nothing), and a new
        ``mediation.expert_invited`` (new event id, same invitation) carries it, in one transaction with the audit
        record. Only while the invitation still matters (waiting for an answer, or accepted: the page holds the
        video link) and at most ``invite_resend_max_per_day`` times in 24 hours. ``assignment_id``: the case the
        caller is on (the console), which the invitation must belong to."""
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            inv = await self.store.invitations.get(invitation_id, s)
            if inv is None or (assignment_id is not None and inv["assignment_id"] != assignment_id):
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            try:
                case = await self._case(inv["assignment_id"], claims, s)
            except Refused:  # another unit's invitation: the same answer as none at all
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请") from None
            who = f"{EXPERT_KIND_ZH.get(inv['kind'], inv['kind'])}{inv['name']}"
            if inv["state"] not in ("invited", "accepted"):
                raise Refused(409, "state", "not_resendable",
                              f"{who}已谢绝参加，无需重新发送" if inv["state"] == "declined"
                              else f"{who}因回避未被邀请，不能发送邀请短信")
            MediationCase.of(case).move("answer_invitation", refusal_zh="本案调解已结束或尚未开始，无需重新发送")
            p = await self.store.people.get(inv["person_id"], s)
            phone = self._dec(p["phone"], "person.phone") if p and p.get("phone") else None
            if p is None or not phone:
                raise Refused(409, "phone", "no_phone", f"专家库中没有{who}的手机号，无法发送短信，请电话联系")
            now = self.now()
            since = now - timedelta(days=1)
            recent = [t for t in inv.get("resent_at", []) if (aware(t) or since) > since]
            limit = self.settings.invite_resend_max_per_day
            if len(recent) >= limit:
                raise Refused(409, "invitation_id", "resend_limit",
                              f"24小时内已重新发送{len(recent)}次（最多{limit}次），请电话联系{who}")
            code = new_invite_code()
            # Compare-and-set on the code being replaced: two resends at once cannot both pass the limit, nor
            # leave a code that no text carries. The phone may have changed since: the check follows it.
            if not await self.store.invitations.replace_code(
                    invitation_id, inv["state"], inv.get("code_idx"), self._code_idx(code),
                    self._check_idx(invitation_id, phone[-4:]), now, s):
                raise Refused(409, "state", "concurrent_change", "该邀请刚被他人更新，请刷新后重试")
            if inv.get("code_idx"):  # the wrong checks counted against the old code guard nothing any more
                await self.store.invitations.clear_failures(inv["code_idx"], s)
            await self.store.cases.note(case["_id"], {
                "at": now, "what": "invitation_resent",
                "text_zh": f"向{who}重新发送邀请短信（原短信中的链接已失效）"}, s)
            await self.audit.append(s, actor=claims, action="invitation.resend", object_type="invitation",
                                    object_id=invitation_id,
                                    detail=f"state={inv['state']} resends_24h={len(recent) + 1}")
            ses = await self.store.sessions.get(inv["session_id"], s) if inv.get("session_id") else None
            out.append(self._invited(case, claims, inv, p, ses, code))
            return {"invitation_id": invitation_id, "state": inv["state"], "resends_24h": len(recent) + 1}

        return await self._tx(work)

    async def invitation(self, invitation_id: str) -> dict[str, Any] | None:
        """An invitation as stored (the expert's page reads it again after an answer)."""
        return await self.store.invitations.get(invitation_id)

    def _code_idx(self, code: str) -> str:
        return self.cipher.blind_index(code, context="mediation.invite_code")

    def _check_idx(self, invitation_id: str, last4: str) -> str:
        return self.cipher.blind_index(last4, context=f"mediation.invite_check:{invitation_id}")

    def invite_form_token(self, invitation_id: str, check: str) -> str:
        """The answer form's token: a keyed MAC of the invitation and its check, so an answer is only taken
        from a page this service rendered for that invitation."""
        return self.cipher.blind_index(f"{invitation_id}|{check}", context="mediation.invite_form")[:32]

    async def open_invitation(self, raw_code: str, check: str, now: datetime | None = None) -> dict[str, Any]:
        """The invitation behind a code if the check (last four digits of the expert's phone) matches. Raises
        InviteCodeError (a typo), InviteLocked (too many wrong checks) or InviteNotFound (no such code or a wrong
        check: one answer). A refused invitation has no code."""
        code = validate_invite_code(raw_code)
        now = now or self.now()
        key = self._code_idx(code)
        if await self.store.invitations.failures_since(key, now) >= self.settings.invite_max_failures:
            raise InviteLocked()
        inv = await self.store.invitations.by_code(key)
        if inv is None or not (len(check) == 4 and check.isdigit()) or inv.get("check_idx") != self._check_idx(
                inv["_id"], check):
            await self.store.invitations.add_failure(key, now + timedelta(minutes=self.settings.invite_lock_minutes))
            raise InviteNotFound()
        return inv

    async def expert_view(self, inv: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """What the invited expert reads: who invites to which case (number, category, hosting unit — nothing of
        the parties, not the description), the invitation's state, and the sessions they are asked to, with an
        online session's video link once they have accepted and until the session ends."""
        now = now or self.now()
        case = await self.store.cases.get(inv["assignment_id"]) or {}
        sessions = []
        for ses in await self.store.sessions.for_expert(inv["assignment_id"], inv["person_id"],
                                                         inv.get("session_id")):
            ends = aware(ses["ends_at"])
            over = ses["state"] != "scheduled" or (ends is not None and ends <= now)
            link = (ses.get("join_url") if ses["mode"] == "online" and not over and inv["state"] == "accepted"
                    else None)
            sessions.append({"mode": ses["mode"], "mode_zh": MODE_ZH.get(ses["mode"], ses["mode"]),
                             "format": ses.get("format"), "starts_at": aware(ses["starts_at"]), "ends_at": ends,
                             "place_zh": ses.get("place_zh"), "join_url": link, "over": over})
        return {"invitation_id": inv["_id"], "state": inv["state"], "kind_zh": EXPERT_KIND_ZH.get(inv["kind"], ""),
                "name": inv["name"], "case_number": case.get("case_number", ""),
                "category": case.get("category", ""), "unit_name": case.get("unit_name") or case.get("unit_code", ""),
                "case_open": case.get("state") in states.MOVES["answer_invitation"],
                "answer_reason": inv.get("answer_reason"), "reasons": inv.get("reasons", []), "sessions": sessions}

    async def list_invitations(self, assignment_id: str, claims: StaffClaims) -> list[dict[str, Any]]:
        case = await self._case(assignment_id, claims)
        invs = await self.store.invitations.of_case(case["_id"])
        # whether the expert can be texted (the console offers to resend the SMS only then); not the phone itself
        texted = await self.store.people.with_phone([i["person_id"] for i in invs])
        return [{"invitation_id": i["_id"], "person_id": i["person_id"], "kind": i["kind"], "name": i["name"],
                 "state": i["state"], "reasons": i.get("reasons", []), "session_id": i.get("session_id"),
                 "has_phone": i["person_id"] in texted,
                 "resent_at": aware(i["resent_at"][-1]) if i.get("resent_at") else None}
                for i in invs]
