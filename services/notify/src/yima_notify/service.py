"""Notify's use cases. Exactly once in effect: one notification per (source event, recipient, channel),
enforced by the notification's ``_id``; a redelivered event finds it already there.

The applicant's contact comes from ``case.submitted``; a status step that arrives before it (the two
topics are not ordered with each other) waits as ``pending_recipient`` and goes out when it arrives.
Walking skeleton: the in-app inbox channel (delivered inside the transaction). SMS, WeChat, e-mail and
webhooks, with their retries, arrive with the notify issue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import Actor, CaseStatusChanged, CaseSubmitted, NotificationSent, topics
from yima_contracts.codes import ActorKind
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher

from .core.templates import render_applicant

CHANNEL = "inbox"


class NotifyService:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.recipients = db["recipients"]
        self.notifications = db["notifications"]
        self.cipher = cipher

    async def setup(self) -> None:
        await self.notifications.create_index([("case_id", 1), ("created_at", 1)])
        await self.notifications.create_index("state")

    async def on_submitted(self, event: CaseSubmitted, tx: Tx) -> None:
        # $set, not $setOnInsert: on_status may have created the document first (see there).
        await self.recipients.update_one(
            {"_id": event.case_id},
            {"$set": {
                "case_number": event.case_number,
                "phone": self.cipher.encrypt(event.applicant.phone, context="recipients.phone"),
                "tracking_code": self.cipher.encrypt(event.tracking_code, context="recipients.tracking_code"),
            }},
            upsert=True,
            session=tx.session,
        )
        pending = self.notifications.find({"case_id": event.case_id, "state": "pending_recipient"}, session=tx.session)
        for n in [n async for n in pending]:
            await self._deliver(CaseStatusChanged.model_validate_json(n["source"]), tx)

    async def on_status(self, event: CaseStatusChanged, tx: Tx) -> None:
        nid = f"{event.event_id}|applicant|{CHANNEL}"
        if await self.notifications.find_one({"_id": nid}, {"_id": 1}, session=tx.session):
            return
        recipient = await self.recipients.find_one({"_id": event.case_id}, session=tx.session)
        if recipient is None or "phone" not in recipient:
            # Write the recipient document too: a concurrent on_submitted writes the same document, so the
            # two transactions conflict and one retries — otherwise each could miss the other's write under
            # snapshot isolation and this notification would wait forever.
            await self.recipients.update_one(
                {"_id": event.case_id}, {"$inc": {"waiting": 1}}, upsert=True, session=tx.session
            )
            await self.notifications.insert_one(
                {"_id": nid, "case_id": event.case_id, "state": "pending_recipient",
                 "source": event.model_dump_json(), "created_at": datetime.now(UTC)},
                session=tx.session,
            )
            return
        await self._deliver(event, tx, recipient)

    async def _deliver(self, event: CaseStatusChanged, tx: Tx, recipient: dict[str, Any] | None = None) -> None:
        recipient = recipient or await self.recipients.find_one({"_id": event.case_id}, session=tx.session)
        assert recipient is not None
        code = self.cipher.decrypt(recipient["tracking_code"], context="recipients.tracking_code")
        shown = "-".join(code[i : i + 4] for i in range(0, len(code), 4))
        msg = render_applicant(event, recipient["case_number"], shown)
        nid = f"{event.event_id}|applicant|{CHANNEL}"
        now = datetime.now(UTC)
        await self.notifications.update_one(
            {"_id": nid},
            {"$set": {"case_id": event.case_id, "state": "delivered", "recipient_kind": "applicant",
                      "channel": CHANNEL, "template_id": msg.template_id,
                      "text": self.cipher.encrypt(msg.text, context="notifications.text"),
                      "source_event_id": str(event.event_id), "delivered_at": now},
             "$setOnInsert": {"created_at": now}},
            upsert=True,
            session=tx.session,
        )
        tx.emit(topics.NOTIFICATION_SENT, NotificationSent(
            case_id=event.case_id, correlation_id=event.correlation_id, causation_id=event.event_id,
            actor=Actor(kind=ActorKind.SYSTEM, service="notify"), notification_id=nid,
            source_event_id=event.event_id, recipient_kind="applicant", channel=CHANNEL,
            template_id=msg.template_id,
        ))
