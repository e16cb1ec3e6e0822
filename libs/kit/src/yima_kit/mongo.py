"""MongoDB access with PyMongo's async API (AsyncMongoClient; motor is past its end of life)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

T = TypeVar("T")
Doc = dict[str, Any]


def connect(url: str) -> AsyncMongoClient[Doc]:
    # tz_aware: every datetime we read back is UTC-aware, like the ones we write.
    from .querylog import listeners  # tests only: records query shapes when YIMA_MONGO_QUERY_LOG_DIR is set

    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000, uuidRepresentation="standard",
                            event_listeners=listeners())


async def ensure_ttl_index(col: AsyncCollection[Doc], field: str, seconds: int, name: str) -> None:
    """A TTL index on ``field`` removing documents ``seconds`` after that time, whatever was there before.

    ``create_index`` alone refuses to change an index's options (IndexOptionsConflict): a changed retention
    setting, or an older deployment's plain index on the same field, would stop the service from starting.
    Such an index is dropped and made again (a TTL index is only a clean-up aid: nothing depends on it
    between the two calls).
    """
    async for info in await col.list_indexes():
        if list(info["key"].keys()) != [field]:
            continue
        if info["name"] == name and info.get("expireAfterSeconds") == seconds:
            return
        await col.drop_index(info["name"])
    await col.create_index(field, name=name, expireAfterSeconds=seconds)


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble that retrying fixes (not the message's fault): never dead-letter on these."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("UnknownTransactionCommitResult")
    ):
        return True
    return isinstance(exc, OperationFailure) and exc.code in (112, 251)  # WriteConflict, NoSuchTransaction


async def in_transaction(client: AsyncMongoClient[Doc], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run ``work`` in a multi-document transaction.

    PyMongo's ``with_transaction`` retries the whole callback on TransientTransactionError and only the
    commit on UnknownTransactionCommitResult (so a commit that did succeed is never applied twice).
    """
    async with client.start_session() as session:
        return await session.with_transaction(work)


async def insert_all(col: AsyncCollection[Doc], docs: list[Doc], *, session: AsyncClientSession | None = None
                     ) -> None:
    """``insert_many`` whose refusal by a unique index raises ``DuplicateKeyError``, as ``insert_one``'s does (a
    bulk write raises ``BulkWriteError``): a caller handles a duplicate the same way for one document or many."""
    try:
        await col.insert_many(docs, session=session)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if errors and all(e.get("code") == 11000 for e in errors):
            raise DuplicateKeyError(str(errors[0].get("errmsg", "duplicate key")), 11000, errors[0]) from exc
        raise


async def ping(db: AsyncDatabase[Doc]) -> None:
    await db.command("ping")


async def increment(
    col: AsyncCollection[Doc],
    doc_id: str,
    field: str,
    *,
    by: int = 1,
    set_on_insert: Doc | None = None,
    session: AsyncClientSession | None = None,
    attempts: int = 5,
) -> int:
    """Add ``by`` (one by default) to ``field`` of a counter document (created on first use) and return the new
    value: the caller owns the ``by`` values up to it (a block of numbers, e.g. intake's case numbers).

    Not an upsert: two first uses racing on a missing document make an upsert answer the loser with a
    duplicate key (MongoDB) or, on the MongoDB-wire stand-in under load, with no document although the
    increment was applied, so a retry would skip a number. Instead: increment an existing document; if
    there is none, insert it with ``by``; if another caller inserted it first (duplicate key), increment again.
    Inside a transaction a lost insert race aborts it, so it is raised as a TransientTransactionError,
    which ``in_transaction`` (PyMongo's with_transaction) retries from the start.
    """
    in_txn = session is not None and session.in_transaction
    for _ in range(attempts):
        doc = await col.find_one_and_update(
            {"_id": doc_id}, {"$inc": {field: by}}, return_document=ReturnDocument.AFTER, session=session
        )
        if doc is not None:
            return int(doc[field])
        try:
            await col.insert_one({**(set_on_insert or {}), "_id": doc_id, field: by}, session=session)
            return by
        except DuplicateKeyError:
            if in_txn:
                raise OperationFailure(
                    f"counter {doc_id!r}: a concurrent first use created it", code=112,
                    details={"errorLabels": ["TransientTransactionError"], "code": 112},
                ) from None
    raise RuntimeError(f"counter {doc_id!r} could not be incremented after {attempts} attempts")
