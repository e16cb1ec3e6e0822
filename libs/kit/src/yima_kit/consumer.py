"""Idempotent, dead-lettering Kafka consumers (consuming side of at-least-once).

For every message: parse it against its contract; a message that does not parse goes to
``dlq.<service>`` at once (retrying can't fix it). Otherwise, in ONE Mongo transaction: record
``(consumer, event_id)`` in the processed-events ledger (unique ``_id``), run the handler, and stage the
events it emits in the outbox. A duplicate ledger entry means the event was already processed: the
redelivery changes nothing. A handler error is retried with backoff up to ``max_attempts``, then the
message goes to the DLQ with the error in its headers and the consumer goes on. Infrastructure
trouble (Mongo unreachable) is never the message's fault: it is retried without limit (the offset is
not committed), so nothing is dead-lettered or lost because a database blinked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import Span, SpanKind, StatusCode
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from yima_contracts import Event, headers, topics

from . import metrics, tracing
from .logging import get_logger
from .mongo import in_transaction, is_transient
from .outbox import Outbox, Outgoing

log = get_logger(__name__)

E = TypeVar("E", bound=Event)
LEDGER = "processed_events"


@dataclass
class Tx:
    """What a handler gets besides its event: the transaction's session and a way to emit events."""

    session: AsyncClientSession
    emitted: list[Outgoing] = field(default_factory=list)
    # The topic the event was read from: the only trustworthy "who wrote this" where an ACL binds a topic to
    # one principal (a unit's feedback topic, docs/adr/0071-per-unit-feedback-topics.md).
    topic: str = ""

    def emit(self, topic: str, event: Event) -> None:
        self.emitted.append(Outgoing(topic, event))


Handler = Callable[[E, Tx], Awaitable[None]]


class PermanentError(Exception):
    """The handler says this message can never be processed (e.g. feedback for an unknown assignment)."""


class EventConsumers:
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
    ) -> None:
        self.service = service
        self.broker = broker
        self.client = client
        self.db = db
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds
        self.dlq_topic = topics.dlq_topic(service)
        # For the AsyncAPI document: subscriber title -> the contract it reads (the wrapper takes raw messages).
        self.subscribed: dict[str, type[Event]] = {}

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
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Register ``handler(event, tx)`` for ``topic`` (or several topics read by one consumer, e.g. a read model
        that takes every event). ``name`` identifies the consumer in the ledger."""
        consumer = f"{self.service}.{name}"

        def decorator(handler: Handler[E]) -> Handler[E]:
            async def on_message(msg: KafkaMessage) -> None:
                await self._process(msg, model, handler, consumer)

            self.subscribed[f"{self.service}:{name}"] = model
            on_message.__name__ = f"on_{name}"
            on_message.__doc__ = handler.__doc__
            sub_kwargs: dict[str, Any] = {
                "group_id": group_id or f"yima-{self.service}",
                "auto_offset_reset": "earliest",
                # Commit only after we processed, retried or dead-lettered the message.
                "ack_policy": AckPolicy.NACK_ON_ERROR,
                "title": f"{self.service}:{name}",
                "description": handler.__doc__,
            }
            if pattern:
                if not isinstance(topic, str):
                    raise TypeError("a pattern subscription takes one pattern")
                sub = self.broker.subscriber(pattern=topic, **sub_kwargs)
            else:
                sub = self.broker.subscriber(*((topic,) if isinstance(topic, str) else topic), **sub_kwargs)
            sub(on_message)
            return handler

        return decorator

    async def _process(self, msg: Any, model: type[E], handler: Handler[E], consumer: str) -> None:
        """Process one message inside a CONSUMER span that continues the message's trace context, so the
        handler's log lines and the events it emits (their ``traceparent``) belong to the same trace."""
        raw = msg.raw_message
        topic = str(getattr(raw, "topic", ""))
        key = getattr(raw, "key", None)
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "yima.consumer": consumer,
        }
        if key is not None:
            attributes["messaging.kafka.message.key"] = key.decode(errors="replace") if isinstance(key, bytes) else key
        if getattr(raw, "partition", None) is not None:
            attributes["messaging.destination.partition.id"] = str(raw.partition)
        if getattr(raw, "offset", None) is not None:
            attributes["messaging.kafka.offset"] = raw.offset
        with tracing.tracer().start_as_current_span(
            f"{topic} process",
            context=tracing.extract(tracing.kafka_trace_headers(getattr(raw, "headers", None))),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,  # exception messages may quote data; the type is enough (error.type)
        ) as span:
            await self._process_in_span(msg, model, handler, consumer, span)

    async def _process_in_span(
        self, msg: Any, model: type[E], handler: Handler[E], consumer: str, span: Span
    ) -> None:
        raw = msg.raw_message
        try:
            event = model.model_validate_json(msg.body)
        except (ValidationError, ValueError) as exc:
            span.set_attribute("error.type", "invalid")
            span.set_status(StatusCode.ERROR, "invalid event")
            await self._dead_letter(msg, consumer, "invalid", _short(exc), attempts=1)
            return
        span.set_attributes({"yima.event_type": event.event_type, "yima.event_id": str(event.event_id)})
        attempt = 0
        while True:
            attempt += 1
            try:
                with metrics.HANDLER_SECONDS.labels(consumer).time():
                    done = await self.process_once(event, handler, consumer, topic=str(getattr(raw, "topic", "")))
                if done:
                    metrics.EVENTS_PROCESSED.labels(consumer).inc()
                else:
                    metrics.EVENTS_DUPLICATE.labels(consumer).inc()
                    log.info("duplicate event skipped", consumer=consumer, event_id=str(event.event_id))
                return
            except Exception as exc:
                if is_transient(exc):
                    # Not the message's fault: wait and try again, forever (the offset stays uncommitted).
                    log.warning("transient error, retrying", consumer=consumer, error=type(exc).__name__,
                                code=getattr(exc, "code", None), detail=str(exc)[:300])
                    await asyncio.sleep(min(5.0, self.retry_base * 2 ** min(attempt, 5)))
                    attempt = 0
                    continue
                permanent = isinstance(exc, PermanentError)
                if permanent or attempt >= self.max_attempts:
                    log.error(
                        "event dead-lettered",
                        consumer=consumer,
                        event_id=str(event.event_id),
                        topic=getattr(raw, "topic", None),
                        error=type(exc).__name__,
                    )
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(StatusCode.ERROR, "dead-lettered")
                    await self._dead_letter(
                        msg, consumer, "rejected" if permanent else "failed", _short(exc), attempts=attempt
                    )
                    return
                metrics.EVENT_RETRIES.labels(consumer).inc()
                await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))

    async def process_once(self, event: E, handler: Handler[E], consumer: str, *, topic: str = "") -> bool:
        """Run the handler exactly once in effect. Returns False if the event was processed before."""

        ledger_id = f"{consumer}|{event.event_id}"

        async def work(session: AsyncClientSession) -> bool:
            # Look first: a failed insert would abort the whole transaction on the server.
            if await self.db[LEDGER].find_one({"_id": ledger_id}, {"_id": 1}, session=session):
                return False
            await self.db[LEDGER].insert_one(
                {"_id": ledger_id, "at": datetime.now(UTC), "case_id": event.case_id}, session=session
            )
            tx = Tx(session, topic=topic)
            await handler(event, tx)
            await self.outbox.add(session, tx.emitted)
            return True

        try:
            return await in_transaction(self.client, work)
        except DuplicateKeyError:
            # Either a concurrent delivery of the same event won the race (then the ledger has it: done),
            # or the handler hit a unique index of its own (a real error: let it be retried or dead-lettered).
            if await self.db[LEDGER].find_one({"_id": ledger_id}, {"_id": 1}):
                return False
            raise

    async def _dead_letter(self, msg: Any, consumer: str, kind: str, error: str, *, attempts: int) -> None:
        metrics.EVENTS_DEAD_LETTERED.labels(consumer, kind).inc()
        raw = msg.raw_message
        await self.broker.publish(
            msg.body,
            topic=self.dlq_topic,
            key=getattr(raw, "key", None),
            headers={
                # The original trace context, unchanged: a replayed dead letter continues the original trace.
                **tracing.kafka_trace_headers(getattr(raw, "headers", None)),
                headers.DLQ_ERROR: error,
                headers.DLQ_ERROR_KIND: kind,
                headers.DLQ_CONSUMER: consumer,
                headers.DLQ_ORIGINAL_TOPIC: str(getattr(raw, "topic", "")),
                headers.DLQ_ORIGINAL_PARTITION: str(getattr(raw, "partition", "")),
                headers.DLQ_ORIGINAL_OFFSET: str(getattr(raw, "offset", "")),
                headers.DLQ_ATTEMPTS: str(attempts),
            },
        )


def _short(exc: BaseException) -> str:
    # Error text goes to a header that operators read: keep it short and free of the payload's values.
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)]
        return ("invalid event: " + "; ".join(parts))[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]
