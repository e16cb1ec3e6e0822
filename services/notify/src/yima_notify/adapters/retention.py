"""Notify's copy of a case's personal data, erased when the case's retention period is over (``case.retention_
expired``; docs/retention.md, docs/adr/0125).

What goes: the applicant's and the proxy's phones and their blind indexes, the WeChat openid, the tracking code
(and its index: the applicant's inbox no longer opens), the masked name, every message's text and address, and the
events still waiting for the case's contacts (they carry the submission). What stays: the ledger — which event
reached whom (by kind: applicant, unit, expert), over which channel, when, delivered or failed — so exactly-once
still holds and the delivery figures still add up. Texts the inbox pages decrypt keep a ciphertext of「（已删除）」.
Experts' own contacts are not the case's (they are kept for their next invitation)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.crypto import FieldCipher
from yima_kit.retention import marker, scrub, wire_store
from yima_kit.runtime import Runtime
from yima_kit.uow import Tx

from .mongo_queue import NOTIFICATIONS
from .mongo_repo import PENDING, RECIPIENTS

CONTACT_FIELDS: dict[str, Any] = {
    **dict.fromkeys(("phone", "phone_key", "tracking_index", "wechat_openid", "proxy_phone", "proxy_phone_key")),
    "tracking_code": "", "applicant_masked": "申请人",  # what a record without them reads (ports.CaseContact)
}


class MongoRetention:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.recipients = db[RECIPIENTS]
        self.notifications = db[NOTIFICATIONS]
        self.pending = db[PENDING]
        self.cipher = cipher

    async def erase(self, case_id: str, tx: Tx) -> bool:
        s = tx.session
        n = await scrub(self.recipients, {"_id": case_id}, CONTACT_FIELDS, s)
        n += await scrub(self.notifications, {"case_id": case_id},  # index (case_id, channel, …): its prefix
                         {"text": marker(self.cipher, "notifications.text"), "address": None, "address_key": None}, s)
        n += (await self.pending.delete_many({"case_id": case_id}, session=s)).deleted_count
        return n > 0


def install(rt: Runtime) -> MongoRetention:
    """Wire it into a process: its indexes at start, its consumer of ``case.retention_expired``."""
    return wire_store(rt, MongoRetention(rt.db, rt.cipher))
