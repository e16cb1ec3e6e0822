"""Append-only audit log with a hash chain (等保 2.0 level 3: time, actor, action, object, success/failure).

Record n stores ``hash_n = HMAC-SM3(key, hash_{n-1} ‖ canonical JSON of record n)``, computed through the kit's
one crypto interface (``FieldCipher.blind_index``, context ``audit.chain``), so changing or deleting a record
breaks every later hash, and nobody without the key can forge a consistent chain. A ``head`` document holds the
last sequence number and hash; appends run in a transaction that moves the head, so concurrent appends
serialise (the loser's write conflict is retried). Records are never updated; the service's database user for
ordinary accounts gets no delete/update on ``audit`` (deployment).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.auth import StaffClaims
from yima_kit.crypto import FieldCipher

GENESIS = "0" * 64
HEAD = "head"


def _canonical(rec: dict[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class AuditLog:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher) -> None:
        self.col = db["audit"]
        self.heads = db["audit_head"]
        self.cipher = cipher

    def _hash(self, prev: str, rec: dict[str, Any]) -> str:
        return self.cipher.blind_index(prev + _canonical(rec), context="audit.chain")

    async def append(self, session: AsyncClientSession, *, actor: StaffClaims | str, action: str,
                     object_type: str, object_id: str, success: bool = True, personal_data: bool = False,
                     detail: str = "", at: datetime | None = None) -> int:
        """Append inside the caller's transaction (so the action and its record commit together)."""
        head = await self.heads.find_one({"_id": HEAD}, session=session) or {"seq": 0, "hash": GENESIS}
        seq = int(head["seq"]) + 1
        who = actor if isinstance(actor, str) else actor.sub
        rec = {
            "seq": seq,
            "at": (at or datetime.now(UTC)).isoformat(),
            "actor": who,
            "actor_unit": None if isinstance(actor, str) else actor.unit,
            "actor_role": None if isinstance(actor, str) else actor.role.value,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "success": success,
            "personal_data": personal_data,
            "detail": detail[:300],
        }
        digest = self._hash(head["hash"], rec)
        await self.col.insert_one({"_id": seq, **rec, "prev": head["hash"], "hash": digest}, session=session)
        await self.heads.update_one({"_id": HEAD}, {"$set": {"seq": seq, "hash": digest}}, upsert=True,
                                    session=session)
        return seq

    async def verify(self) -> tuple[bool, int, int | None]:
        """(chain intact, records checked, first bad sequence number)."""
        prev = GENESIS
        n = 0
        async for doc in self.col.find({}).sort("_id", 1):
            n += 1
            rec = {k: v for k, v in doc.items() if k not in ("_id", "prev", "hash")}
            if doc["_id"] != n or doc["prev"] != prev or self._hash(prev, rec) != doc["hash"]:
                return False, n, int(doc["_id"])
            prev = doc["hash"]
        head = await self.heads.find_one({"_id": HEAD})
        if head is not None and (head["seq"] != n or head["hash"] != prev):
            return False, n, n + 1  # records were removed from the end
        return True, n, None
