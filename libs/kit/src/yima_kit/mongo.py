"""MongoDB access with PyMongo's async API (AsyncMongoClient; motor is past its end of life)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

T = TypeVar("T")
Doc = dict[str, Any]


def connect(url: str) -> AsyncMongoClient[Doc]:
    # tz_aware: every datetime we read back is UTC-aware, like the ones we write.
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000, uuidRepresentation="standard")


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


async def ping(db: AsyncDatabase[Doc]) -> None:
    await db.command("ping")
