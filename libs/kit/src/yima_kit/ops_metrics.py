"""The figures an operator acts on, served at ``/metrics`` by every role (docs/adr/0095; alerts and the dashboard
in deploy/monitoring/ name exactly these):

- ``yima_http_request_seconds`` — request latency by method, route template and status class;
- ``yima_outbox_backlog`` / ``yima_outbox_oldest_unsent_seconds`` — what the relay has not published yet;
- ``yima_consumer_lag`` — per consumer group and topic, the messages not yet committed by the service's groups;
- the at-least-once counters of :mod:`yima_kit.metrics` (dead-lettered events among them).

The gauges are read when Prometheus scrapes (at most every ``REFRESH_SECONDS``), never by a loop of their own:
an idle platform pays nothing for them between scrapes. Reading them may fail (broker or database down): the
gauges then keep their last value and ``yima_ops_metrics_refresh_errors_total`` counts the failure.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging import get_logger

log = get_logger(__name__)

REFRESH_SECONDS = 10.0

HTTP_SECONDS = Histogram(
    "yima_http_request_seconds",
    "HTTP request latency by route template",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OUTBOX_BACKLOG = Gauge("yima_outbox_backlog", "Outbox entries not yet published to Kafka", ["service"])
OUTBOX_OLDEST_UNSENT = Gauge(
    "yima_outbox_oldest_unsent_seconds", "Age of the oldest outbox entry not yet published (0 when none)", ["service"]
)
CONSUMER_LAG = Gauge(
    "yima_consumer_lag", "Messages on the topic not yet committed by the consumer group", ["service", "group", "topic"]
)
REFRESH_ERRORS = Counter(
    "yima_ops_metrics_refresh_errors_total", "Scrape-time reads of the ops gauges that failed", ["service", "what"]
)


class HttpMetricsMiddleware:
    """Pure ASGI: times every HTTP request, labelled by the route *template* (``/api/v1/cases/{case_id}``), never
    the raw path (which may carry a tracking code) — unmatched paths are labelled ``unmatched``."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_SECONDS.labels(self.service, scope.get("method", ""), template, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


class OpsGauges:
    """Refreshes the outbox and consumer-lag gauges of one service, on demand (the /metrics handler)."""

    def __init__(self, service: str, db: Any, outbox_collection: str, kafka_client_kwargs: dict[str, Any]) -> None:
        self.service = service
        self._outbox = db[outbox_collection]
        self._kafka_kwargs = kafka_client_kwargs
        self._refreshed = 0.0
        self._admin: Any = None
        self._offsets: Any = None

    async def refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = now
        await self._refresh_outbox()
        await self._refresh_lag()

    async def _refresh_outbox(self) -> None:
        try:
            backlog = await self._outbox.count_documents({})  # everything in it is unsent (ADR 0212)
            oldest = await self._outbox.find_one({}, sort=[("_id", 1)], projection={"created_at": 1},
                                                 hint=[("_id", 1)])  # the oldest by the index, not a scan
            OUTBOX_BACKLOG.labels(self.service).set(backlog)
            age = 0.0
            if oldest and oldest.get("created_at"):
                created = oldest["created_at"]
                if created.tzinfo is None:
                    created = created.replace(tzinfo=UTC)
                age = max(0.0, (datetime.now(UTC) - created).total_seconds())
            OUTBOX_OLDEST_UNSENT.labels(self.service).set(age)
        except Exception as exc:
            REFRESH_ERRORS.labels(self.service, "outbox").inc()
            log.warning("outbox gauges not refreshed", error=type(exc).__name__)

    async def _clients(self) -> tuple[Any, Any]:
        if self._admin is None:
            from aiokafka import AIOKafkaConsumer
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(**self._kafka_kwargs, client_id=f"yima-{self.service}-metrics")
            await admin.start()
            offsets = AIOKafkaConsumer(**self._kafka_kwargs, client_id=f"yima-{self.service}-metrics",
                                       enable_auto_commit=False)
            await offsets.start()
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def _refresh_lag(self) -> None:
        try:
            admin, offsets = await self._clients()
            groups = [g[0] if isinstance(g, tuple) else g.get("group_id", g)
                      for g in await admin.list_consumer_groups()]
            prefix = f"yima-{self.service}"
            for group in sorted(str(g) for g in groups if str(g) == prefix or str(g).startswith(prefix + ".")):
                committed = await admin.list_consumer_group_offsets(group)
                if not committed:
                    continue
                ends = await offsets.end_offsets(list(committed))
                per_topic: dict[str, int] = {}
                for tp, meta in committed.items():
                    done = meta.offset if meta.offset >= 0 else 0
                    per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, ends.get(tp, done) - done)
                for topic, lag in per_topic.items():
                    CONSUMER_LAG.labels(self.service, group, topic).set(lag)
        except Exception as exc:
            REFRESH_ERRORS.labels(self.service, "consumer_lag").inc()
            log.warning("consumer lag not refreshed", error=type(exc).__name__)

    async def close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        with contextlib.suppress(Exception):  # closing on the way out: nothing to do about a failure
            if offsets is not None:
                await offsets.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()
