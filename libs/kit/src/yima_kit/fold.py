"""Folded consumers (ADR 0201): the subscriptions of one consumer group to named topics share ONE Kafka consumer —
one fetch loop and one poll for all of them instead of one each. A mixin of :class:`yima_kit.consumer.EventConsumers`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

# An idle fetch of a subscription marked ``rare`` (events that come seldom and are in no hurry: retention, most of
# notify's topics) waits this long for data instead of the service's usual wait: fewer polls of an idle broker.
RARE_FETCH_MAX_WAIT_MS = 500


@dataclass
class Route:
    """One handler of a folded consumer: the topics it reads and how it processes them."""

    topics: tuple[str, ...]
    model: Any
    handler: Any
    consumer: str
    batch_handler: Any
    fetch_max_wait_ms: int
    first: bool = False  # its share of a poll is committed before the others start (subscribe_batch's ``first``)


class Folding:
    broker: KafkaBroker
    batch_max: int
    fetch_min_bytes: int
    _folds: dict[str, list[Route]]

    async def _process_batch(self, records: list[Any], model: Any, handler: Any, consumer: str,
                             batch_handler: Any = None) -> None:
        raise NotImplementedError

    def declare(self) -> None:
        """Create the folded consumers (before the broker starts): per consumer group, ONE Kafka consumer of every
        named topic its handlers read. A poll's records are split by topic and each handler's share is processed
        exactly as its own consumer would (its own unit of work, ledger, retries and dead letters), the shares
        concurrently (those of handlers marked ``first`` before the rest); the offsets are committed once every
        share is done. Idempotent."""
        folds, self._folds = self._folds, {}
        for group, routes in folds.items():
            by_topic: dict[str, Route] = {}
            for route in routes:
                for t in route.topics:
                    if t in by_topic:
                        raise ValueError(f"two handlers of group {group} read {t}")
                    by_topic[t] = route
            self._declare_fold(group, by_topic)

    def _declare_fold(self, group: str, by_topic: dict[str, Route]) -> None:
        async def on_poll(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            shares: dict[str, tuple[Route, list[Any]]] = {}
            for record in list(raw) if isinstance(raw, (tuple, list)) else [raw]:
                route = by_topic[str(record.topic)]
                shares.setdefault(route.consumer, (route, []))[1].append(record)
            # The shares marked ``first`` one after another, then the others concurrently. Every share finishes
            # before an error NACKs the poll (no share still running when it is redelivered).
            results: list[Any] = []
            for route, records in (v for v in shares.values() if v[0].first):
                try:
                    await self._process_share(route, records)
                except Exception as exc:
                    results.append(exc)
            results += await asyncio.gather(*(self._process_share(route, records)
                                              for route, records in shares.values() if not route.first),
                                            return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

        on_poll.__name__ = f"on_{group}"
        self.broker.subscriber(
            *by_topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR,
            # a poll may bring each handler as many as its own consumer's would have
            batch=True, max_records=self.batch_max * len({r.consumer for r in by_topic.values()}),
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=min(r.fetch_max_wait_ms for r in by_topic.values()), include_in_schema=False,
        )(on_poll)

    async def _process_share(self, route: Route, records: list[Any]) -> None:
        """One handler's records of a folded poll, at most ``batch_max`` per unit of work, in order."""
        for i in range(0, len(records), self.batch_max):
            await self._process_batch(records[i:i + self.batch_max], route.model, route.handler, route.consumer,
                                      route.batch_handler)
