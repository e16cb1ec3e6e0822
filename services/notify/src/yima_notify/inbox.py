"""The inboxes as people read them (the read side behind the HTTP routes): the applicant's behind the tracking
code and the lockout, a unit's, an invited expert's; the messages that finally failed; a unit's own channels.
``NotifyService`` has these methods (a mixin over the same ports)."""

from __future__ import annotations

from datetime import UTC, datetime

from yima_contracts.human_codes import normalize_code
from yima_contracts.personal import phone_last4
from yima_kit.crypto import FieldCipher

from .ports import CaseContact, Contacts, Doc, Ledger, NotifyRepository


class InboxReads:
    repo: NotifyRepository
    contacts: Contacts
    ledger: Ledger
    cipher: FieldCipher

    async def applicant_messages(self, code: str, check: str, client: str,
                                 now: datetime) -> tuple[str, list[Doc]] | None:
        """The applicant's inbox behind the tracking code plus the last four digits of the phone — the rule (and
        the lockout, yima_kit.throttle) intake's tracking page uses: (case number, messages), or None for "no such
        case" and "wrong phone" alike. Raises ``Throttled`` when this client must wait first."""
        idx = self.cipher.blind_index(normalize_code(code), context="recipients.tracking_code")

        async def look() -> tuple[tuple[str, CaseContact] | None, bool | None]:
            found = await self.contacts.case_by_tracking_index(idx)
            if found is None or found[1].phone is None:
                # Only a wrong check counts: the 4 digits are what can be guessed (a code is 60 random bits). A code
                # notify has not heard of yet (case.submitted still on its way, while intake's tracking page already
                # asks) must not slow the applicant down after a few refreshes.
                return None, None
            right = phone_last4(self.cipher.decrypt(found[1].phone, context="recipients.phone")) == check
            return (found if right else None), right

        key = self.cipher.blind_index(code, context="track_failures")
        found, _ = await self.repo.lockout.guard(key, client, now, look)
        if found is None:
            return None
        case_id, record = found
        return record.case_number, await self.applicant_inbox(case_id)

    async def applicant_inbox(self, case_id: str, limit: int = 50) -> list[Doc]:
        return await self._inbox({"channel": "inbox", "case_id": case_id, "recipient_kind": "applicant"}, limit)

    async def unit_inbox(self, unit_code: str, *, unread: bool = False, limit: int = 50) -> list[Doc]:
        q: Doc = {"channel": "inbox", "unit_code": unit_code}
        if unread:
            q["read_at"] = None
        return await self._inbox(q, limit)

    async def person_inbox(self, person_id: str, limit: int = 50) -> list[Doc]:
        return await self._inbox({"channel": "inbox", "recipient": f"person:{person_id}"}, limit)

    async def mark_read(self, unit_code: str, nid: str) -> bool:
        return await self.ledger.mark_read(unit_code, nid, datetime.now(UTC))

    async def set_unit_contacts(self, unit_code: str, fields: dict[str, str], by: str) -> None:
        await self.contacts.set_unit_channels(unit_code, fields, by, datetime.now(UTC))

    async def failures(self, unit_code: str, limit: int = 100) -> list[Doc]:
        """Messages that finally failed and concern this unit (staff see them; nothing is silently lost)."""
        failed = await self.ledger.failed(unit_code, limit)
        # A failed WeChat message to an applicant went by SMS instead: show that text's id and how it fared.
        fb_ids = [d["fallback"]["notification_id"] for d in failed if d.get("fallback")]
        fb_state = await self.ledger.states(fb_ids) if fb_ids else {}
        return [{"notification_id": d["_id"], "case_number": d.get("case_number"), "channel": d["channel"],
                 "recipient_kind": d["recipient_kind"], "template_id": d["template_id"], "attempts": d["attempts"],
                 "error": d.get("last_error", ""), "failed_at": d.get("failed_at"),
                 "fallback": {**d["fallback"], "state": fb_state.get(d["fallback"]["notification_id"])}
                 if d.get("fallback") else None}
                for d in failed]

    async def _inbox(self, q: Doc, limit: int) -> list[Doc]:
        return [self.inbox_view(d) for d in await self.ledger.inbox(q, limit)]

    def inbox_view(self, d: Doc) -> Doc:
        return {
            "notification_id": d["_id"], "case_number": d.get("case_number"), "template_id": d["template_id"],
            "title": d["title"], "text": self.cipher.decrypt(d["text"], context="notifications.text"),
            "created_at": d["created_at"], "read_at": d.get("read_at"),
        }
