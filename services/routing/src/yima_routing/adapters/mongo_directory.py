"""The org directory in Mongo: seeded from the data file, edited through the admin API, every change versioned.

``units`` and ``staff`` hold the current state (each document with its ``version``); ``directory_changes`` is the
append-only history (who, when, why, before, after). ``directory_meta`` holds a revision counter: every replica
rebuilds its in-memory :class:`Directory` when the revision moves (after its own edits at once, others' within
``refresh_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from yima_kit.logging import get_logger
from yima_kit.mongo import increment

from ..core.directory import Directory, Staff, Unit

log = get_logger(__name__)
META = "directory"


class DirectoryConflict(Exception):
    """The document changed since the caller read it (optimistic concurrency on ``version``)."""


class DirectoryStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.units = db["units"]
        self.staff = db["staff"]
        self.changes = db["directory_changes"]
        self.meta = db["directory_meta"]
        self.current: Directory = Directory([], "empty")
        self.revision = -1

    async def setup(self) -> None:
        await self.staff.create_index("unit")
        await self.changes.create_index([("object_id", 1), ("version", 1)], unique=True)

    async def seed(self, seed: Directory, password_hash: str | None) -> int:
        """Load the seed file's units and staff that are not stored yet (admin edits are never overwritten).
        Returns the number of documents written."""
        meta = await self.meta.find_one({"_id": META})
        if meta and meta.get("seed_version") == seed.version:
            return 0
        now = datetime.now(UTC)
        written = 0
        # Insert what is missing (plain inserts: much faster than one upsert per document at start-up).
        for col, items, extra in (
            (self.units, {u.code: u for u in seed.units.values()}, {}),
            (self.staff, {s.id: s for s in seed.staff.values()},
             {"password_hash": password_hash, "must_change_password": password_hash is not None,
              "seeded_password": password_hash is not None}),
        ):
            have = {d["_id"] async for d in col.find({}, {"_id": 1})}
            docs = [{"_id": key, **item.model_dump(mode="json"), "version": 1, "source": seed.version,
                     "changed_at": now, **extra} for key, item in items.items() if key not in have]
            for i in range(0, len(docs), 1000):
                try:
                    res = await col.insert_many(docs[i:i + 1000], ordered=False)
                    written += len(res.inserted_ids)
                except BulkWriteError as exc:  # another replica seeding at the same time
                    written += exc.details.get("nInserted", 0)
        await self.meta.update_one(
            {"_id": META}, {"$set": {"seed_version": seed.version}, "$inc": {"revision": 1}}, upsert=True)
        return written

    async def load(self) -> Directory:
        meta = await self.meta.find_one({"_id": META}) or {}
        units = [Unit.model_validate(_strip(d, Unit)) async for d in self.units.find({})]
        staff = [Staff.model_validate(_strip(d, Staff)) async for d in self.staff.find({})]
        self.current = Directory(units, f"{meta.get('seed_version', '?')}+r{meta.get('revision', 0)}", staff)
        self.revision = int(meta.get("revision", 0))
        return self.current

    async def refresh_if_changed(self) -> bool:
        meta = await self.meta.find_one({"_id": META}, {"revision": 1}) or {}
        if int(meta.get("revision", 0)) != self.revision:
            await self.load()
            return True
        return False

    async def refresher(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self.refresh_if_changed()

    async def put(self, kind: str, doc_id: str, after: dict[str, Any], *, expected_version: int | None,
                  actor: str, reason: str, session: AsyncClientSession) -> int:
        """Create or change a unit or a staff member; the history records before and after. Returns the version."""
        col = self.units if kind == "unit" else self.staff
        before = await col.find_one({"_id": doc_id}, session=session)
        version = int(before["version"]) if before else 0
        if expected_version is not None and expected_version != version:
            raise DirectoryConflict(f"{kind} {doc_id} is at version {version}, not {expected_version}")
        now = datetime.now(UTC)
        new = {**after, "version": version + 1, "changed_at": now, "changed_by": actor}
        if before is None:
            await col.insert_one({"_id": doc_id, **new}, session=session)
        else:
            res = await col.update_one({"_id": doc_id, "version": version}, {"$set": new}, session=session)
            if res.matched_count != 1:
                raise DirectoryConflict(f"{kind} {doc_id} changed concurrently")
        private = ("password_hash", "totp_secret", "failed_logins", "locked_until")
        await self.changes.insert_one({
            "object_kind": kind, "object_id": doc_id, "version": version + 1, "at": now, "actor": actor,
            "reason": reason,
            "before": {k: v for k, v in (before or {}).items() if k not in private} or None,
            "after": {k: v for k, v in after.items() if k not in private},
        }, session=session)
        await increment(self.meta, META, "revision", session=session)
        return version + 1

    async def history(self, doc_id: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in d.items() if k != "_id"}
            async for d in self.changes.find({"object_id": doc_id}).sort("version", 1)
        ]


def _strip(doc: dict[str, Any], model: type[Unit] | type[Staff]) -> dict[str, Any]:
    d = {k: v for k, v in doc.items() if k in model.model_fields}
    if model is Unit:
        d["code"] = doc["_id"]
    else:
        d["id"] = doc["_id"]
    return d
