"""One unit of work: a use case's writes and the events it promises, in ONE transaction (ADR 0060).

Every service runs every use case — an HTTP request, a consumer's batch of events, a sweeper's step, a
delivery's mark — through :meth:`UnitOfWork.run`::

    async def work(tx: Tx) -> str:
        await repo.insert_case(doc, tx.session)
        tx.emit(topics.CASE_SUBMITTED, submitted)
        return case_number

    case_number = await uow.run(work)

``run`` opens the transaction, hands ``work`` a :class:`Tx` (the session, ``emit``, ``after_commit``), stages
every emitted event in the outbox with ONE ``insert_many`` at the end, commits (PyMongo's ``with_transaction``
retries the whole callback on a transient error, so ``work`` must only write through ``tx.session``), and after
the commit wakes the outbox relay of this process (no polling: the relay sleeps until a write or its slow
safety poll) and runs the ``after_commit`` callbacks (say, to wake a delivery worker).

The consuming side (:mod:`yima_kit.consumer`) uses the same ``run`` for a whole poll of events: the ledger
entries, every handler's writes and every emitted event of the batch commit together. :class:`Together` does the
same for concurrent requests of one kind (group commit): the requests that arrive while one transaction commits
share the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import Event

from . import tracing
from .mongo import in_transaction
from .outbox import Outbox, Outgoing

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item of a group


@dataclass
class Tx:
    """What a use case gets inside its unit of work: the transaction's session and a way to emit events."""

    session: AsyncClientSession
    emitted: list[Outgoing] = field(default_factory=list)
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    # The topic the event was read from (a consumer's unit of work): the only trustworthy "who wrote this" where
    # an ACL binds a topic to one principal (a unit's feedback topic, docs/adr/0071-per-unit-feedback-topics.md).
    topic: str = ""
    # A batch handler's events may come from several topics (a pattern subscription): event id → its topic.
    topics: dict[str, str] = field(default_factory=dict)

    def topic_of(self, event: Event) -> str:
        """The topic ``event`` was read from (in a batch handler or a one-event handler alike)."""
        return self.topics.get(str(event.event_id), self.topic)

    def emit(self, topic: str, event: Event) -> None:
        """Stage ``event`` for ``topic``; it carries the trace context current NOW (in a batch, each event
        belongs to the trace of the message that caused it)."""
        trace: dict[str, str] = {}
        if tracing.has_active_span():
            tracing.inject(trace)
        self.emitted.append(Outgoing(topic, event, trace or None))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction committed (never when it aborted)."""
        self.callbacks.append(callback)


class UnitOfWork:
    def __init__(self, client: AsyncMongoClient[Any], outbox: Outbox) -> None:
        self.client = client
        self.outbox = outbox

    async def run(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        last: list[Tx] = []

        async def body(session: AsyncClientSession) -> T:
            tx = Tx(session)
            last[:] = [tx]  # a retried callback starts afresh: only the committed attempt's callbacks run
            result = await work(tx)
            await self.outbox.add(session, tx.emitted)
            return result

        result = await in_transaction(self.client, body)
        tx = last[0]
        if tx.emitted:
            self.outbox.committed()
        for callback in tx.callbacks:
            callback()
        return result


class Together(Generic[I]):
    """Group commit: concurrent use cases of one kind share one unit of work.

    ``await together.run(item)`` returns once ``item`` is committed. The first caller commits at once, alone; the
    callers that arrive while a transaction commits wait and go together in the next one (at most ``max_items``):
    ``write(items, tx)`` writes them all — one bulk write per collection, their events in the outbox's one insert.
    So under load a transaction serves many requests, and alone a request waits for nobody.

    When a group's transaction fails (a unique index refusing one item, say), each item is tried again alone in
    its own unit of work, and each caller gets its own outcome: one bad item never fails the others."""

    def __init__(self, uow: UnitOfWork, write: Callable[[list[I], Tx], Awaitable[None]], *,
                 max_items: int = 64) -> None:
        self.uow, self.write, self.max_items = uow, write, max_items
        self._waiting: list[tuple[I, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed for groups of more than one (a figure for tests and metrics)

    async def run(self, item: I) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_waiting(), name="group-commit")
        await asyncio.shield(done)  # a caller that goes away does not take its item's commit with it

    async def _commit_waiting(self) -> None:
        group: list[tuple[I, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:self.max_items], self._waiting[self.max_items:]
                await self._commit(group)
        finally:
            self._committer = None
            for _, done in [*group, *self._waiting]:  # settled already, unless this task was cancelled (shutdown)
                _settle(done, asyncio.CancelledError())
            self._waiting = []

    async def _commit(self, group: list[tuple[I, asyncio.Future[None]]]) -> None:
        items = [item for item, _ in group]
        try:
            await self.uow.run(lambda tx: self.write(items, tx))
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            for item, done in group:  # alone, each with its own outcome
                try:
                    await self.uow.run(lambda tx, item=item: self.write([item], tx))  # type: ignore[misc]
                except Exception as alone:
                    _settle(done, alone)
                else:
                    _settle(done, None)
            return
        if len(group) > 1:
            self.groups += 1
        for _, done in group:
            _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
