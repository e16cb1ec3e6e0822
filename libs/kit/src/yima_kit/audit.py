"""Append-only audit log with a hash chain (等保 2.0 level 3: time, actor, action, object, success/failure).

Record n stores ``hash_n = HMAC-SM3(key, hash_{n-1} ‖ canonical JSON of record n)``, computed through the kit's
one crypto interface (``FieldCipher.blind_index``, context ``audit.chain``), so changing or deleting a record
breaks every later hash, and nobody without the key can forge a consistent chain. A ``head`` document holds the
last sequence number and hash; appends run in a transaction that moves the head, so concurrent appends
serialise (the loser's write conflict is retried). Records are never updated; the service's database user for
ordinary accounts gets no delete/update on ``audit`` (deployment).

Each record names the id of the key that made its hash (``key_id``), so after a key rotation older records are
still checked with their own key (the cipher keeps old keys). Records written before ``key_id`` existed are
checked with the active key.

Every service keeps its own chain in its own database (docs/adr/0006-audit-chain-in-kit.md).
:func:`install_audit_middleware` appends one record per staff call under ``/api/v1/``;
:func:`audit_router` serves ``GET …/audit/verify``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from .auth import AuthError, StaffClaims, TokenVerifier
from .crypto import FieldCipher
from .logging import get_logger
from .mongo import in_transaction

log = get_logger(__name__)

GENESIS = "0" * 64
HEAD = "head"
UNVERIFIED = "unverified"  # the actor of a call whose bearer token did not verify


def _canonical(rec: dict[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class AuditLog:
    def __init__(self, db: AsyncDatabase[Any], cipher: FieldCipher, *, collection: str = "audit") -> None:
        self.col = db[collection]
        self.heads = db[f"{collection}_head"]
        self.cipher = cipher

    async def setup(self) -> None:
        """Create the head at genesis if there is none, so even the first appends serialise on one document."""
        await self.heads.update_one({"_id": HEAD}, {"$setOnInsert": {"seq": 0, "hash": GENESIS}}, upsert=True)

    def _head_sig(self, seq: int, digest: str, key_id: str | None = None) -> str:
        """The head's own keyed signature: without the key nobody can cut records off the end and move the
        head back to match (the chain alone cannot tell a shorter chain from a truncated one)."""
        return self.cipher.blind_index(f"head|{seq}|{digest}", context="audit.head", key_id=key_id)

    def _hash(self, prev: str, rec: dict[str, Any]) -> str:
        return self.cipher.blind_index(prev + _canonical(rec), context="audit.chain", key_id=rec.get("key_id"))

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
            "key_id": self.cipher.active_key_id,
        }
        key_id = self.cipher.active_key_id
        digest = self._hash(head["hash"], rec)
        await self.col.insert_one({"_id": seq, **rec, "prev": head["hash"], "hash": digest}, session=session)
        await self.heads.update_one({"_id": HEAD}, {"$set": {
            "seq": seq, "hash": digest, "key_id": key_id, "sig": self._head_sig(seq, digest, key_id)}},
            upsert=True, session=session)
        return seq

    async def append_alone(self, client: AsyncMongoClient[Any], **record: Any) -> int:
        """Append in a transaction of its own (for a record that belongs to no action's transaction)."""
        return await in_transaction(client, lambda session: self.append(session, **record))

    async def verify(self) -> tuple[bool, int, int | None]:
        """(chain intact, records checked, first bad sequence number)."""
        prev = GENESIS
        n = 0
        async for doc in self.col.find({}).sort("_id", 1):
            if not isinstance(doc["_id"], int):
                # Not a chain record (mediation's plain records from before the chain, ObjectId ids). A chain
                # record whose id was changed to hide it still breaks the chain: its successor's ``prev``, or
                # the head, no longer matches.
                continue
            n += 1
            rec = {k: v for k, v in doc.items() if k not in ("_id", "prev", "hash")}
            try:
                ok = doc["_id"] == n and doc["prev"] == prev and self._hash(prev, rec) == doc["hash"]
            except (KeyError, TypeError):  # a field removed, or a key id this process does not hold
                ok = False
            if not ok:
                return False, n, doc["_id"]
            prev = doc["hash"]
        head = await self.heads.find_one({"_id": HEAD})
        if head is not None and (head["seq"] != n or head["hash"] != prev):
            return False, n, n + 1  # records were removed from the end
        if head is not None and n > 0:
            try:
                signed = head.get("sig") == self._head_sig(n, prev, head.get("key_id"))
            except (KeyError, TypeError):
                signed = False
            if not signed:
                return False, n, n  # the head was moved by someone without the key (records cut off the end)
        return True, n, None


# --- one record per staff call ---------------------------------------------------------------------------


def _object_of(request: Request) -> tuple[str, str, str]:
    """(action, object type, object id) of a call: the route's template, never the raw path (a path that
    matched no route is not recorded, whatever was typed into it); the object is the route's first path
    parameter (``assignment_id`` → type ``assignment``)."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    action = f"{request.method} {template}" if template else f"{request.method} (no route)"
    params: dict[str, Any] = (request.scope.get("path_params") or {}) if template else {}
    for name, value in params.items():
        return action, name.removesuffix("_id"), str(value)[:200]
    return action, "", ""


def install_audit_middleware(app: FastAPI, audit: AuditLog, verifier: TokenVerifier,
                             client: AsyncMongoClient[Any], *, prefix: str = "/api/v1/",
                             skip: Iterable[str] = ()) -> None:
    """Append a record for every call under ``prefix`` made with a genuine staff token, refused ones too
    (``success`` = status < 400). A token that does not verify leaves no record: anyone can send
    ``Bearer x``, and the chain must not be a place strangers can fill.

    The record is written after the handler, in a transaction of its own; concurrent appends serialise on
    the head. Paths in ``skip`` (prefixes) are not recorded — e.g. public routes whose path holds something
    that must not be kept. A failing audit store is logged and does not hide the answer.
    """
    skipped = tuple(skip)

    async def record(request: Request, status: int) -> None:
        token = request.headers.get("authorization", "").partition(" ")[2]
        try:
            actor = verifier.verify(token, password_change_ok=True)
        except AuthError:
            return  # not a staff member: nothing to attribute, nothing to keep
        action, object_type, object_id = _object_of(request)
        try:
            await audit.append_alone(client, actor=actor, action=action, object_type=object_type,
                                     object_id=object_id, success=status < 400, detail=f"HTTP {status}")
        except Exception as exc:  # the audit store failing must be visible, and must not hide the answer
            log.error("audit record not written", error=type(exc).__name__, action=action)

    def audited(request: Request) -> bool:
        path = request.url.path
        return (path.startswith(prefix) and not path.startswith(skipped)
                and request.headers.get("authorization", "").lower().startswith("bearer "))

    @app.middleware("http")
    async def audit_staff_calls(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not audited(request):
            return await call_next(request)
        try:
            response = await call_next(request)
        except Exception:
            await record(request, 500)
            raise
        await record(request, response.status_code)
        return response


def audit_router(audit: AuditLog, auditor: Any, *, path: str = "/api/v1/audit/verify") -> APIRouter:
    """``GET path`` → ``{intact, records, first_bad}``; ``auditor`` is the staff dependency allowed to ask
    (admin and analyst, like routing's)."""
    r = APIRouter(tags=["audit"])

    @r.get(path, summary="校验审计日志哈希链 Verify the audit chain")
    async def verify_audit(claims: StaffClaims = auditor) -> dict[str, Any]:
        ok, n, bad = await audit.verify()
        return {"intact": ok, "records": n, "first_bad": bad}

    return r
