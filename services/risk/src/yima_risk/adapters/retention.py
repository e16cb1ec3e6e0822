"""Risk's copy of a case's personal data, erased when the case's retention period is over (``case.retention_
expired``; docs/retention.md, docs/adr/0125).

What goes: the description and the details added later (kept to re-assess), the applicant's blind index (it links
a person's cases), the leaders' notes of follow-up visits and staff's reasons for correcting a level. What stays:
levels, scores, the rules that fired and their version, dates, units, the respondent organisation of warnings (an
organisation, not a person) — the assessments and the statistics still hold."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.crypto import FieldCipher
from yima_kit.retention import erased_text, marker, scrub, wire_store
from yima_kit.runtime import Runtime
from yima_kit.uow import Tx


class MongoRetention:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.cases = db["cases"]
        self.corrections = db["corrections"]
        self.cipher = cipher

    async def erase(self, case_id: str, tx: Tx) -> bool:
        s = tx.session
        n = await scrub(self.cases, {"_id": case_id}, {
            "description": marker(self.cipher, "risk.description"),
            "additional": marker(self.cipher, "risk.description"), "applicant_key": None,
            "note": erased_text,  # visits: the leader's note (in clear)
        }, s)
        n += await scrub(self.corrections, {"case_id": case_id},
                         {"reason_zh": marker(self.cipher, "risk.correction")}, s)  # index (case_id, at)
        return n > 0


def install(rt: Runtime) -> MongoRetention:
    """Wire it into a process: its indexes at start, its consumer of ``case.retention_expired``."""
    return wire_store(rt, MongoRetention(rt.db, rt.cipher))
