"""Mediation's copy of a case's personal data, erased when the case's retention period is over (``case.retention_
expired``; docs/retention.md, docs/adr/0125).

What goes: the parties' names, name indexes and phones, the description, the sessions' records and the parties'
statements, the agreement's facts and terms and its PDF, the transfer package, insurance claims' summaries. What
stays: states, dates, units, mediators (staff), sessions' times and modes, the agreement's number and its SHA-256
— so a paper copy from the committee's archive (卷宗, the file of record) is still verified at ``/verify/<sha256>``
— and every figure. Texts a page decrypts keep a ciphertext of「（已删除）」so the pages still render; the PDF and
the package are gone (their downloads answer an error)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.crypto import FieldCipher
from yima_kit.retention import ERASED_ZH, blanked, marker, scrub, wire_store
from yima_kit.runtime import Runtime
from yima_kit.uow import Tx


class MongoRetention:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.cases = db["cases"]
        self.sessions = db["sessions"]
        self.agreements = db["agreements"]
        self.packages = db["packages"]
        self.claims = db["insurance_claims"]
        self.cipher = cipher

    async def setup(self) -> None:
        await self.packages.create_index("assignment_id", name="retention_assignment_id")

    def _m(self, ctx: str) -> Any:
        return marker(self.cipher, f"mediation.{ctx}")

    async def erase(self, case_id: str, tx: Tx) -> bool:
        s = tx.session
        party = {"name": self._m("party.name"), "name_idx": None, "phone": None}
        ids = [d["_id"] async for d in self.cases.find({"case_id": case_id}, {"_id": 1}, session=s)]
        n = await scrub(self.cases, {"case_id": case_id}, {
            "parties": lambda ps: [blanked(p, party) for p in ps or []],  # mediators (staff) keep their names
            "description": self._m("description"),
            # what staff typed into the steps (a next step, a place, a reason) may name the parties: the step stays
            "timeline": lambda tl: [{**t, "text_zh": ERASED_ZH} if t.get("text_zh") else t for t in tl or []]}, s)
        if not ids:
            return n > 0
        mine = {"assignment_id": {"$in": ids}}
        n += await scrub(self.sessions, mine, {"summary": self._m("record.summary"), "statement": self._m("turn")}, s)
        n += await scrub(self.agreements, mine, {"facts": self._m("agreement.facts"),
                                                 "terms": self._m("agreement.terms"), "pdf": None}, s)
        n += await scrub(self.packages, mine, {"zip": None}, s)
        n += await scrub(self.claims, mine, {"summary": self._m("insurance.summary")}, s)
        return n > 0


def install(rt: Runtime) -> MongoRetention:
    """Wire it into a process: its indexes at start, its consumer of ``case.retention_expired``."""
    return wire_store(rt, MongoRetention(rt.db, rt.cipher))
