"""Routing's copy of a case's personal data, erased when the case's retention period is over (``case.retention_
expired``; docs/retention.md, docs/adr/0125).

What goes: the applicant's name and phone, the description and address kept for the work orders, and every free
text staff and units wrote on the case (reasons for returns, pauses, urging, escalation; feedback notes; joint
summons and their reports) — they may name people. What stays: units, rules, rounds, deadlines, states, dates,
supervision steps, so routing's history and every figure built on it still hold. Texts a page decrypts keep a
ciphertext of「（已删除）」so the pages still render."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.crypto import FieldCipher
from yima_kit.retention import erased_text, marker, scrub, wire_store
from yima_kit.runtime import Runtime
from yima_kit.uow import Tx

# Free texts of people (staff, units) on assignments and joint summons; rule explanations (reason_zh) included,
# as an escalation's carries the unit's reason. Kept in clear: they read「（已删除）」afterwards (None stays None).
FREE_TEXT = dict.fromkeys(("reason", "reason_zh", "pause_reason", "note", "note_zh"), erased_text)


class MongoRetention:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.cases = db["cases"]
        self.assignments = db["assignments"]
        self.joints = db["joint_summons"]
        self.cipher = cipher

    async def setup(self) -> None:
        await self.joints.create_index("case_id", name="retention_case_id")  # assignments: (case_id, round)

    async def erase(self, case_id: str, tx: Tx) -> bool:
        s = tx.session
        case_fields: dict[str, Any] = {
            "description": marker(self.cipher, "routing.description"),
            "applicant_name": marker(self.cipher, "routing.applicant.name"),
            "applicant_phone": marker(self.cipher, "routing.applicant.phone"),
            "address": None, **FREE_TEXT,
        }
        n = await scrub(self.cases, {"_id": case_id}, case_fields, s)
        n += await scrub(self.assignments, {"case_id": case_id}, FREE_TEXT, s)
        n += await scrub(self.joints, {"case_id": case_id}, FREE_TEXT, s)
        return n > 0


def install(rt: Runtime) -> MongoRetention:
    """Wire it into a process: its indexes at start, its consumer of ``case.retention_expired``."""
    return wire_store(rt, MongoRetention(rt.db, rt.cipher))
