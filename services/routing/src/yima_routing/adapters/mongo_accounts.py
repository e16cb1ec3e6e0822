"""MongoDB behind staff sign-in (ports.StaffAccountRepository): the accounts (collection ``staff``, written by
the directory too), their sessions, and the failed-login counters per source address. Each method is the one
atomic operation accounts.py relied on when it held the collections."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class MongoStaffAccounts:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.staff = db["staff"]
        self.sessions = db["sessions"]
        self.sources = db["login_sources"]

    async def setup(self) -> None:
        await self.sessions.create_index("staff_id")
        await self.sessions.create_index("revoked_at")
        # every field of a query in one index (the MongoDB-wire stand-in's planner needs that)
        await self.sessions.create_index([("staff_id", 1), ("revoked_at", 1)])
        for field in ("attempts", "window_until"):
            await self.sources.create_index([("_id", 1), (field, 1)])

    # --- accounts ------------------------------------------------------------------------------------

    async def account(self, staff_id: str, fields: tuple[str, ...] | None = None) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.staff.find_one(
            {"_id": staff_id}, dict.fromkeys(fields, 1) if fields else None)
        return doc

    async def take_account_attempt(self, staff_id: str, now: datetime) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.staff.find_one_and_update(
            {"_id": staff_id, "$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]},
            {"$inc": {"failed_logins": 1}}, return_document=ReturnDocument.AFTER)
        return doc

    async def lock(self, staff_id: str, until: datetime) -> None:
        await self.staff.update_one({"_id": staff_id}, {"$set": {"locked_until": until, "failed_logins": 0}})

    async def use_totp_counter(self, staff_id: str, counter: int) -> bool:
        used = await self.staff.update_one(
            {"_id": staff_id, "$or": [{"totp_last_counter": None}, {"totp_last_counter": {"$lt": counter}}]},
            {"$set": {"totp_last_counter": counter}})
        return used.modified_count == 1

    async def reset_failures(self, staff_id: str, attempt: int) -> bool:
        res = await self.staff.update_one({"_id": staff_id, "failed_logins": attempt}, {"$set": {"failed_logins": 0}})
        return res.modified_count == 1

    async def give_back_failure(self, staff_id: str) -> None:
        await self.staff.update_one({"_id": staff_id, "failed_logins": {"$gt": 0}}, {"$inc": {"failed_logins": -1}})

    async def mark_login(self, staff_id: str, at: datetime) -> None:
        await self.staff.update_one({"_id": staff_id}, {"$set": {"last_login_at": at}})

    async def set_password_hash(self, staff_id: str, password_hash: str, must_change: bool) -> None:
        await self.staff.update_one({"_id": staff_id}, {"$set": {
            "password_hash": password_hash, "must_change_password": must_change,
            "seeded_password": False, "failed_logins": 0, "locked_until": None}})

    async def set_totp_secret(self, staff_id: str, encrypted: str) -> None:
        await self.staff.update_one({"_id": staff_id}, {"$set": {"totp_secret": encrypted,
                                                                 "totp_last_counter": None}})

    async def totp_enrolled(self, staff_ids: list[str]) -> int:
        """How many of these accounts have a TOTP secret."""
        return await self.staff.count_documents({"_id": {"$in": staff_ids}, "totp_secret": {"$nin": [None, ""]}})

    async def reset_credentials(self, staff_id: str, password_hash: str, encrypted_totp_secret: str) -> None:
        """The operator's reset of an admin (bootstrap.py): an initial password to change, a new TOTP secret."""
        await self.staff.update_one({"_id": staff_id}, {"$set": {
            "password_hash": password_hash, "must_change_password": True,
            "seeded_password": False, "failed_logins": 0, "locked_until": None,
            "totp_secret": encrypted_totp_secret, "totp_last_counter": None}})

    async def seeded_password_count(self) -> int:
        return await self.staff.count_documents({"seeded_password": True, "active": {"$ne": False}})

    # --- failed logins per source address -------------------------------------------------------------

    async def take_source_attempt(self, source: str, now: datetime, window: timedelta) -> int | None:
        window_end = now + window
        try:  # the counter exists before anyone increments it (parallel upserts would race)
            await self.sources.update_one(
                {"_id": source}, {"$setOnInsert": {"attempts": 0, "window_until": window_end}}, upsert=True)
        except DuplicateKeyError:
            pass
        await self.sources.update_one({"_id": source, "window_until": {"$lte": now}},
                                      {"$set": {"attempts": 0, "window_until": window_end}})
        doc = await self.sources.find_one_and_update({"_id": source}, {"$inc": {"attempts": 1}},
                                                     return_document=ReturnDocument.AFTER)
        return int(doc["attempts"]) if doc is not None else None

    async def give_back_source_attempt(self, source: str) -> None:
        await self.sources.update_one({"_id": source, "attempts": {"$gt": 0}}, {"$inc": {"attempts": -1}})

    # --- sessions ------------------------------------------------------------------------------------

    async def open_session(self, sid: str, staff_id: str, now: datetime) -> None:
        await self.sessions.insert_one({"_id": sid, "staff_id": staff_id, "created_at": now, "last_seen_at": now,
                                        "revoked_at": None})

    async def touch_session(self, sid: str, staff_id: str, now: datetime, *, seen_after: datetime,
                            created_after: datetime) -> bool:
        """A live session (not revoked, not idle, not too old) is seen now; False when it is over."""
        doc = await self.sessions.find_one_and_update(
            {"_id": sid, "staff_id": staff_id, "revoked_at": None, "last_seen_at": {"$gt": seen_after},
             "created_at": {"$gt": created_after}},
            {"$set": {"last_seen_at": now}})
        return doc is not None

    async def revoke_sessions(self, query: dict[str, Any], now: datetime,
                              session: Any = None) -> list[tuple[str, str]]:
        """Revoke the live sessions matching ``query`` (by ``_id`` and/or ``staff_id``), in ``session``'s
        transaction when given; their (session id, staff id)."""
        found = [(d["_id"], d["staff_id"]) async for d in self.sessions.find(
            {**query, "revoked_at": None}, {"_id": 1, "staff_id": 1}, session=session)]
        if found:
            await self.sessions.update_many({"_id": {"$in": [sid for sid, _ in found]}},
                                            {"$set": {"revoked_at": now}}, session=session)
        return found

    async def revoke_all_of(self, staff_id: str, now: datetime) -> None:
        await self.sessions.update_many({"staff_id": staff_id, "revoked_at": None}, {"$set": {"revoked_at": now}})

    async def revoked_since(self, since: datetime) -> list[str]:
        return [d["_id"] async for d in self.sessions.find({"revoked_at": {"$gt": since}}, {"_id": 1})]
