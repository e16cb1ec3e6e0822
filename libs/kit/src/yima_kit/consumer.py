"""Idempotent, dead-lettering Kafka consumers (consuming side of at-least-once), a poll's batch at a time.

Every subscriber takes what one poll returns (up to ``batch_max`` messages, FastStream's batch subscriber on
aiokafka's ``getmany``) and processes it in ONE unit of work (:mod:`yima_kit.uow`): one read of the
processed-events ledger for the whole batch, one ``insert_many`` of its new ledger entries, every handler in
the order the messages came (a case's events share a partition: per-case order holds), and one ``insert_many``
of every event the handlers emitted — all committed together, then the offsets. A message whose ledger entry
exists was processed before: the redelivery changes nothing (exactly-once effects).

A message that does not parse goes to ``dlq.<service>`` at once (retrying can't fix it). When a handler fails
in a batch, the batch is not lost or blocked: the messages before it are committed as a batch, the failing
one is retried alone with backoff up to ``max_attempts`` (a ``PermanentError`` at once) and then dead-lettered
with the error in its headers, and the rest go on as a batch. Infrastructure trouble (Mongo unreachable, a
write conflict) is never the message's fault: it is retried without limit (the offsets are not committed), so
nothing is dead-lettered or lost because a database blinked. A process killed mid-batch commits nothing of it:
the next owner of the partition processes the batch again, and the ledger keeps its effects single.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from yima_contracts import Event, headers, topics

from . import metrics, tracing
from .fold import RARE_FETCH_MAX_WAIT_MS, Folding, Route
from .logging import get_logger
from .mongo import is_transient
from .outbox import Outbox
from .uow import Tx, UnitOfWork

log = get_logger(__name__)

E = TypeVar("E", bound=Event)
LEDGER = "processed_events"

__all__ = ["LEDGER", "BatchHandler", "EventConsumers", "Handler", "PermanentError", "Tx"]

Handler = Callable[[E, Tx], Awaitable[None]]
# A handler that takes a poll's new events at once (in the order they came), to write them in a few bulk calls.
BatchHandler = Callable[[list[E], Tx], Awaitable[None]]


class PermanentError(Exception):
    """The handler says this message can never be processed (e.g. feedback for an unknown assignment)."""


@dataclass
class _Item:
    record: Any  # aiokafka ConsumerRecord (topic, partition, offset, key, value, headers)
    event: Any
    ledger_id: str


class _HandlerFailed(Exception):
    """The handler of the batch's ``index``-th message raised (the cause is ``__cause__``)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class EventConsumers(Folding):
    def __init__(
        self,
        *,
        service: str,
        broker: KafkaBroker,
        client: AsyncMongoClient[Any],
        db: AsyncDatabase[Any],
        outbox: Outbox,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        batch_max: int = 100,
        uow: UnitOfWork | None = None,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
        fold: bool = False,
    ) -> None:
        self.service = service
        self.broker = broker
        self.client = client
        self.db = db
        self.outbox = outbox
        self.uow = uow or UnitOfWork(client, outbox)
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds
        self.batch_max = batch_max
        # Fewer, larger polls (issue 12): the broker holds a fetch until this much waits or the wait runs out.
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.dlq_topic = topics.dlq_topic(service)
        # For the AsyncAPI document: subscriber title -> the contract it reads (the wrapper takes raw messages).
        self.subscribed: dict[str, type[Event]] = {}
        self._serial: asyncio.Lock | None = None
        # Folding (ADR 0201): the subscriptions of one consumer group to named topics share ONE Kafka consumer
        # (one fetch loop, one poll for all of them), created by declare(); the per-handler subscribers go to
        # spec_broker (never started) so the AsyncAPI document still lists each of them.
        self.fold = fold
        self._folds: dict[str, list[Route]] = {}
        self.spec_broker: KafkaBroker | None = KafkaBroker() if fold else None

    def one_batch_at_a_time(self) -> None:
        """Commit this process's batches one after another: for a read model whose consumers write the same
        documents (concurrent transactions on them conflict, and the loser redoes its whole batch)."""
        self._serial = asyncio.Lock()

    def publishes(self, topic: str, model: type[Event], description: str) -> None:
        """Declare an event this service publishes (through its outbox), for the AsyncAPI document."""
        self.broker.publisher(topic, schema=model, title=f"{self.service}:{topic}", description=description)

    def subscribe(
        self,
        topic: str | tuple[str, ...],
        model: type[E],
        *,
        name: str,
        group_id: str | None = None,
        pattern: bool = False,
        rare: bool = False,
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Register ``handler(event, tx)`` for ``topic`` (or several topics read by one consumer, e.g. a read model
        that takes every event). ``name`` identifies the consumer in the ledger. ``rare``: events that come seldom
        and are in no hurry — an idle fetch waits RARE_FETCH_MAX_WAIT_MS instead of the usual (ADR 0201)."""

        def decorator(handler: Handler[E]) -> Handler[E]:
            self._subscribe(topic, model, name, group_id, pattern, handler, None, rare)
            return handler

        return decorator

    def subscribe_batch(
        self,
        topic: str | tuple[str, ...],
        model: type[E],
        *,
        name: str,
        group_id: str | None = None,
        pattern: bool = False,
        rare: bool = False,
        first: bool = False,
    ) -> Callable[[BatchHandler[E]], BatchHandler[E]]:
        """Like :meth:`subscribe`, but ``handler(events, tx)`` gets every new event of a poll at once, in the order
        they came (the ledger's duplicates left out), inside the batch's one transaction: a read model reads what
        the batch needs in one query and writes it in one bulk call. When it raises, each event of the batch is
        retried alone (``handler([event], tx)``) with the usual bounded retries and dead letter. ``first``: in a
        folded poll (ADR 0201) this handler's share is committed before the other handlers' shares start — for
        events the others need to have seen (notify: the applicant's contact before the steps told to them)."""

        def decorator(handler: BatchHandler[E]) -> BatchHandler[E]:
            async def single(event: E, tx: Tx) -> None:
                await handler([event], tx)

            single.__doc__ = handler.__doc__
            self._subscribe(topic, model, name, group_id, pattern, single, handler, rare, first)
            return handler

        return decorator

    def _subscribe(self, topic: str | tuple[str, ...], model: type[E], name: str, group_id: str | None,
                   pattern: bool, handler: Handler[E], batch_handler: BatchHandler[E] | None,
                   rare: bool = False, first: bool = False) -> None:
        consumer = f"{self.service}.{name}"
        async def on_message(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = list(raw) if isinstance(raw, (tuple, list)) else [raw]
            if records:
                await self._process_batch(records, model, handler, consumer, batch_handler)

        self.subscribed[f"{self.service}:{name}"] = model
        on_message.__name__ = f"on_{name}"
        on_message.__doc__ = handler.__doc__
        sub_kwargs: dict[str, Any] = {
            "group_id": group_id or f"yima-{self.service}",
            "auto_offset_reset": "earliest",
            # Commit only after we processed, retried or dead-lettered the whole batch.
            "ack_policy": AckPolicy.NACK_ON_ERROR,
            "batch": True,
            "max_records": self.batch_max,
            "fetch_min_bytes": self.fetch_min_bytes,
            "fetch_max_wait_ms": max(self.fetch_max_wait_ms, RARE_FETCH_MAX_WAIT_MS) if rare
            else self.fetch_max_wait_ms,
            "title": f"{self.service}:{name}",
            "description": handler.__doc__,
        }
        if pattern:
            if not isinstance(topic, str):
                raise TypeError("a pattern subscription takes one pattern")
            sub = self.broker.subscriber(pattern=topic, **sub_kwargs)
        elif self.spec_broker is not None:  # folded: the real consumer comes from declare()
            named = (topic,) if isinstance(topic, str) else topic
            self._folds.setdefault(sub_kwargs["group_id"], []).append(
                Route(named, model, handler, consumer, batch_handler, sub_kwargs["fetch_max_wait_ms"], first))
            sub = self.spec_broker.subscriber(*named, **sub_kwargs)
        else:
            sub = self.broker.subscriber(*((topic,) if isinstance(topic, str) else topic), **sub_kwargs)
        sub(on_message)

    # --- a poll's batch ----------------------------------------------------------------------------------

    @contextmanager
    def _span(self, record: Any, consumer: str) -> Iterator[Span]:
        """A CONSUMER span that continues the message's trace context, so the handler's log lines and the
        events it emits (their ``traceparent``) belong to the message's trace."""
        span = self._start_span(record, consumer)
        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            yield span

    def _start_span(self, record: Any, consumer: str) -> Span:
        topic = str(getattr(record, "topic", ""))
        key = getattr(record, "key", None)
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "yima.consumer": consumer,
        }
        if key is not None:
            attributes["messaging.kafka.message.key"] = key.decode(errors="replace") if isinstance(key, bytes) else key
        if getattr(record, "partition", None) is not None:
            attributes["messaging.destination.partition.id"] = str(record.partition)
        if getattr(record, "offset", None) is not None:
            attributes["messaging.kafka.offset"] = record.offset
        # exception messages may quote data: never recorded; the type is enough (error.type)
        return tracing.tracer().start_span(
            f"{topic} process",
            context=tracing.extract(tracing.kafka_trace_headers(getattr(record, "headers", None))),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
        )

    async def _process_batch(self, records: list[Any], model: type[E], handler: Handler[E], consumer: str,
                             batch_handler: BatchHandler[E] | None = None) -> None:
        items: list[_Item] = []
        for record in records:
            try:
                event = model.model_validate_json(record.value or b"")
            except (ValidationError, ValueError) as exc:
                with self._span(record, consumer) as span:
                    span.set_attribute("error.type", "invalid")
                    span.set_status(StatusCode.ERROR, "invalid event")
                await self._dead_letter(record, consumer, "invalid", _short(exc), attempts=1)
                continue
            items.append(_Item(record, event, f"{consumer}|{event.event_id}"))
        await self._run(items, handler, consumer, batch_handler)

    async def _run(self, items: list[_Item], handler: Handler[E], consumer: str,
                   batch_handler: BatchHandler[E] | None = None) -> None:
        """Process ``items`` in one unit of work; a failing handler's message is split off and retried alone."""
        attempt = 0
        while items:
            try:
                with metrics.HANDLER_SECONDS.labels(consumer).time():
                    fresh = await self._commit_batch(items, handler, consumer, batch_handler)
                metrics.EVENTS_PROCESSED.labels(consumer).inc(fresh)
                if fresh < len(items):
                    metrics.EVENTS_DUPLICATE.labels(consumer).inc(len(items) - fresh)
                    log.info("duplicate events skipped", consumer=consumer, count=len(items) - fresh)
                return
            except _HandlerFailed as failed:
                i, cause = failed.index, failed.__cause__ or failed
                if i:
                    await self._run(items[:i], handler, consumer, batch_handler)  # the ones before it were fine
                await self._one(items[i], handler, consumer, first_error=cause)
                items, attempt = items[i + 1:], 0
            except Exception as exc:
                if is_transient(exc):
                    # Not the messages' fault: wait and try again, forever (the offsets stay uncommitted).
                    attempt += 1
                    log.warning("transient error, retrying", consumer=consumer, error=type(exc).__name__,
                                code=getattr(exc, "code", None), detail=str(exc)[:300])
                    await asyncio.sleep(min(5.0, self.retry_base * 2 ** min(attempt, 5)))
                    continue
                # Not a handler's error (a concurrent delivery raced us to the ledger, say): one by one.
                log.warning("batch failed, processing its messages one by one", consumer=consumer,
                            error=type(exc).__name__, size=len(items))
                for item in items:
                    await self._one(item, handler, consumer)
                return

    async def _commit_batch(self, items: list[_Item], handler: Handler[E], consumer: str,
                            batch_handler: BatchHandler[E] | None = None) -> int:
        """Ledger, handlers and emitted events of ``items`` in ONE transaction; returns how many were new."""
        ids = [it.ledger_id for it in items]
        spans: list[Span] = []  # of the last attempt: ended (exported) only once it committed
        ledger = self.db[LEDGER]
        # Look first, before the transaction (ADR 0218: on the stand-in every statement inside a transaction waits in
        # one server-wide queue; a batch of known events then costs no transaction at all). A delivery that commits
        # the same events between this look and the insert below makes the insert fail on the ledger's unique _id:
        # the transaction aborts whole and ``_run`` takes the messages one by one, each looking inside its own.
        known: set[str] = set()

        async def work(tx: Tx) -> int:
            for old in spans:  # a retried or rolled-back attempt's spans are never exported
                old.set_attribute("yima.rolled_back", True)
            spans.clear()
            seen = set(known)
            fresh: list[int] = []
            for i, it in enumerate(items):
                if it.ledger_id not in seen:
                    seen.add(it.ledger_id)  # the same event twice in one poll: once
                    fresh.append(i)
            if not fresh:
                return 0
            now = datetime.now(UTC)
            await ledger.insert_many(
                [{"_id": items[i].ledger_id, "at": now, "case_id": items[i].event.case_id} for i in fresh],
                ordered=True, session=tx.session)
            for i in fresh:
                it = items[i]
                span = self._start_span(it.record, consumer)
                spans.append(span)
                span.set_attributes({"yima.event_type": it.event.event_type, "yima.event_id": str(it.event.event_id)})
                if batch_handler is not None:
                    continue  # one call for the batch below; a failure splits it into single retries (_run)
                with trace.use_span(span, end_on_exit=False, record_exception=False,
                                    set_status_on_exception=False):
                    tx.topic = str(getattr(it.record, "topic", ""))  # a pattern subscription reads several
                    try:
                        await handler(it.event, tx)
                    except Exception as exc:
                        if is_transient(exc):
                            raise  # the transaction retries the whole batch
                        raise _HandlerFailed(i) from exc
            if batch_handler is not None:
                tx.topic = ""  # a batch may span topics: tx.topic_of(event)
                tx.topics = {str(items[i].event.event_id): str(getattr(items[i].record, "topic", "")) for i in fresh}
                await batch_handler([items[i].event for i in fresh], tx)
            return len(fresh)

        async with self._serial or nullcontext():
            known = {d["_id"] async for d in ledger.find({"_id": {"$in": ids}}, {"_id": 1})}
            if len(known) == len(set(ids)):
                return 0
            fresh = await self.uow.run(work)
        for span in spans:
            span.end()
        return fresh

    # --- one message (split off a batch, or processed alone) ----------------------------------------------

    async def _one(self, item: _Item, handler: Handler[E], consumer: str,
                   first_error: BaseException | None = None) -> None:
        """Process one message with bounded retries, then dead-letter it. ``first_error``: its first attempt
        (in a batch) failed so already."""
        event = item.event
        with self._span(item.record, consumer) as span:
            span.set_attributes({"yima.event_type": event.event_type, "yima.event_id": str(event.event_id)})
            attempt = 0
            error = first_error
            while True:
                if error is None:
                    attempt += 1
                    try:
                        with metrics.HANDLER_SECONDS.labels(consumer).time():
                            done = await self.process_once(event, handler, consumer,
                                                           topic=str(getattr(item.record, "topic", "")))
                        if done:
                            metrics.EVENTS_PROCESSED.labels(consumer).inc()
                        else:
                            metrics.EVENTS_DUPLICATE.labels(consumer).inc()
                            log.info("duplicate event skipped", consumer=consumer, event_id=str(event.event_id))
                        return
                    except Exception as failure:
                        error = failure
                else:
                    attempt += 1  # the batch's attempt
                exc: BaseException = error
                error = None
                if is_transient(exc):
                    # Not the message's fault: wait and try again, forever (the offset stays uncommitted).
                    log.warning("transient error, retrying", consumer=consumer, error=type(exc).__name__,
                                code=getattr(exc, "code", None), detail=str(exc)[:300])
                    await asyncio.sleep(min(5.0, self.retry_base * 2 ** min(attempt, 5)))
                    attempt = 0
                    continue
                permanent = isinstance(exc, PermanentError)
                if permanent or attempt >= self.max_attempts:
                    log.error("event dead-lettered", consumer=consumer, event_id=str(event.event_id),
                              topic=getattr(item.record, "topic", None), error=type(exc).__name__)
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(StatusCode.ERROR, "dead-lettered")
                    await self._dead_letter(item.record, consumer, "rejected" if permanent else "failed",
                                            _short(exc), attempts=attempt)
                    return
                metrics.EVENT_RETRIES.labels(consumer).inc()
                await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))

    async def process_once(self, event: E, handler: Handler[E], consumer: str, *, topic: str = "") -> bool:
        """Run the handler exactly once in effect. Returns False if the event was processed before."""

        ledger_id = f"{consumer}|{event.event_id}"

        async def work(tx: Tx) -> bool:
            # Look first: a failed insert would abort the whole transaction on the server.
            if await self.db[LEDGER].find_one({"_id": ledger_id}, {"_id": 1}, session=tx.session):
                return False
            await self.db[LEDGER].insert_one(
                {"_id": ledger_id, "at": datetime.now(UTC), "case_id": event.case_id}, session=tx.session
            )
            tx.topic = topic
            await handler(event, tx)
            return True

        try:
            return await self.uow.run(work)
        except DuplicateKeyError:
            # Either a concurrent delivery of the same event won the race (then the ledger has it: done),
            # or the handler hit a unique index of its own (a real error: let it be retried or dead-lettered).
            if await self.db[LEDGER].find_one({"_id": ledger_id}, {"_id": 1}):
                return False
            raise

    async def _dead_letter(self, record: Any, consumer: str, kind: str, error: str, *, attempts: int) -> None:
        metrics.EVENTS_DEAD_LETTERED.labels(consumer, kind).inc()
        await self.broker.publish(
            record.value or b"",
            topic=self.dlq_topic,
            key=getattr(record, "key", None),
            headers={
                # The original trace context, unchanged: a replayed dead letter continues the original trace.
                **tracing.kafka_trace_headers(getattr(record, "headers", None)),
                headers.DLQ_ERROR: error,
                headers.DLQ_ERROR_KIND: kind,
                headers.DLQ_CONSUMER: consumer,
                headers.DLQ_ORIGINAL_TOPIC: str(getattr(record, "topic", "")),
                headers.DLQ_ORIGINAL_PARTITION: str(getattr(record, "partition", "")),
                headers.DLQ_ORIGINAL_OFFSET: str(getattr(record, "offset", "")),
                headers.DLQ_ATTEMPTS: str(attempts),
            },
        )


def _short(exc: BaseException) -> str:
    # Error text goes to a header that operators read: keep it short and free of the payload's values.
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)]
        return ("invalid event: " + "; ".join(parts))[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]
