"""Wiring shared by the services: one :class:`Runtime` per process holds the broker, the database, the
outbox and its relay; :func:`http_app` makes the FastAPI app whose lifespan starts them (handlers are
registered before start, so tests can configure first), with ``GET /health`` and ``GET /metrics``. Every
request runs in a trace span (:mod:`yima_kit.tracing`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .auth import SessionRevocations, TokenVerifier, staff_auth
from .consumer import LEDGER, EventConsumers
from .crypto import FieldCipher
from .errors import install_error_shape
from .limits import BodySizeLimit
from .logging import configure_logging, get_logger
from .mongo import connect, ensure_ttl_index, ping
from .ops_metrics import HttpMetricsMiddleware, OpsGauges
from .outbox import OUTBOX, Lease, Outbox, OutboxRelay
from .revocation_feed import RevocationFeed
from .settings import KitSettings
from .tracing import TraceMiddleware, setup_tracing
from .uow import UnitOfWork

log = get_logger(__name__)

Hook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime:
    settings: KitSettings
    broker: KafkaBroker
    client: AsyncMongoClient[Any]
    db: AsyncDatabase[Any]
    outbox: Outbox
    relay: OutboxRelay
    consumers: EventConsumers
    uow: UnitOfWork
    cipher: FieldCipher
    require_staff: Callable[..., Any]  # require_staff(StaffRole.X, ...) -> a FastAPI Depends giving StaffClaims
    verifier: TokenVerifier
    revocations: SessionRevocations
    revocation_feed: RevocationFeed
    gauges: OpsGauges | None = None
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)  # run first at a clean stop, the database still connected
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def create(cls, settings: KitSettings) -> Runtime:
        configure_logging(settings.service_name, settings.log_level)
        setup_tracing(settings.service_name)
        broker = KafkaBroker(
            settings.kafka_bootstrap,
            security=settings.kafka_auth.faststream_security(),
            client_id=f"yima-{settings.service_name}",
            enable_idempotence=True,  # no duplicates from producer retries
            acks="all",
            metadata_max_age_ms=int(settings.kafka_metadata_max_age_seconds * 1000),
            logger=None,
        )
        client = connect(settings.mongo_url)
        db = client[settings.db_name]
        outbox = Outbox(db)
        relay = OutboxRelay(outbox, broker, Lease(db, "outbox-relay"), settings.outbox_poll_seconds,
                            settings.outbox_idle_max_seconds, settings.outbox_gather_seconds)
        uow = UnitOfWork(client, outbox)
        consumers = EventConsumers(
            service=settings.service_name,
            broker=broker,
            client=client,
            db=db,
            outbox=outbox,
            max_attempts=settings.consumer_max_attempts,
            retry_base_seconds=settings.consumer_retry_base_seconds,
            batch_max=settings.consumer_batch_max,
            fetch_min_bytes=settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            uow=uow,
            fold=settings.consumer_fold,
        )
        if settings.environment == "production" and not (settings.sm4_key_hex and settings.auth_public_keys):
            # The development keys are public (they are in this repository): a production process that fell
            # back to them would store personal data readable by anyone and accept forged staff tokens.
            raise RuntimeError("production needs YIMA_SM4_KEY_HEX and YIMA_AUTH_PUBLIC_KEYS; refusing to start")
        if not settings.kafka_auth.sasl:
            # Without authentication anyone who reaches the cluster writes case.status (what applicants read).
            log.warning("Kafka without authentication (YIMA_KAFKA_SECURITY_PROTOCOL=PLAINTEXT): only on a "
                        "cluster nobody else can reach (docs/adr/0070)", environment=settings.environment)
        if not settings.sm4_key_hex:
            log.warning("YIMA_SM4_KEY_HEX not set: using the development key (never in production)")
        cipher = FieldCipher.from_hex(settings.sm4_key_hex)
        if not settings.auth_public_keys:
            log.warning("YIMA_AUTH_PUBLIC_KEYS not set: staff tokens verify with the development key")
        revocations = SessionRevocations()
        verifier = TokenVerifier.from_setting(settings.auth_public_keys, revocations)
        if settings.environment == "production" and verifier.uses_dev_key():
            raise RuntimeError("production refuses the development token key (its private half is public); "
                               "set YIMA_AUTH_PUBLIC_KEYS to your own keys")
        require_staff = staff_auth(verifier)
        feed = RevocationFeed(settings.kafka_bootstrap, settings.kafka_auth, revocations,
                              service=settings.service_name,
                              lookback=timedelta(minutes=settings.session_revocation_lookback_minutes))
        gauges = OpsGauges(settings.service_name, db, OUTBOX, {"bootstrap_servers": settings.kafka_bootstrap,
                                                                 **settings.kafka_auth.client_kwargs()})
        return cls(settings, broker, client, db, outbox, relay, consumers, uow, cipher, require_staff, verifier,
                   revocations, feed, gauges)

    async def start(self, *, consume: bool = True, relay: bool = True) -> None:
        # Revoked staff sessions: the feed connects and reads back in the background; nothing here waits for it
        # (until it has caught up, tokens are checked by signature and expiry — ADR 0132).
        await self.revocation_feed.start()
        await self.outbox.setup()
        # The ledger must outlive redelivery (topic retention), not the platform: old entries expire.
        await ensure_ttl_index(self.db[LEDGER], "at", int(self.settings.processed_retention_days * 86400),
                               "processed_ttl")
        for hook in self.on_start:
            await hook(self)
        if consume:
            self.consumers.declare()  # the folded consumers (ADR 0201), before the broker starts them
            await self.broker.start()
        else:
            await self.broker.connect()
        if relay:
            follow = self.settings.outbox_follow_changes
            # Apart from the consumers (role relay-outbox), nothing in this process wakes the relay: follow the
            # outbox's change stream. With them (serve), their commits wake it directly.
            self.relay.start(follow_changes=(not consume) if follow is None else follow)
        log.info("service started", consume=consume, relay=relay)

    async def stop(self) -> None:
        for hook in self.on_stop:
            try:
                await hook(self)
            except Exception:  # a hook never keeps the process from stopping
                log.exception("stop hook failed")
        for t in self.background:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.relay.stop()
        await self.revocation_feed.stop()
        if self.gauges is not None:
            await self.gauges.close()
        await self.broker.stop()
        await self.client.close()

    async def health(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(ping(self.db), timeout=3)
            checks["mongo"] = "ok"
        except Exception as exc:
            checks["mongo"] = f"unreachable: {type(exc).__name__}"
        try:
            ok = await self.broker.ping(timeout=3)
            checks["kafka"] = "ok" if ok else "unreachable"
        except Exception as exc:
            checks["kafka"] = f"unreachable: {type(exc).__name__}"
        return checks


def ops_router(rt: Runtime) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/health", summary="Readiness: broker and database reachable")
    async def health(response: Response) -> dict[str, Any]:
        checks = await rt.health()
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        # The revocation feed is shown, not required: the service answers while it connects (ADR 0132).
        return {"service": rt.settings.service_name, "status": "ok" if ready else "unavailable", "checks": checks,
                "revocations": rt.revocation_feed.status()}

    @router.get("/livez", summary="Liveness: the process answers (no dependency checks)")
    async def livez() -> dict[str, str]:
        return {"service": rt.settings.service_name, "status": "alive"}

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if rt.gauges is not None:
            await rt.gauges.refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def http_app(rt: Runtime, *, title: str, consume: bool = True, relay: bool = True, **kwargs: Any) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await rt.start(consume=consume, relay=relay)
        try:
            yield
        finally:
            await rt.stop()

    # Our TraceMiddleware makes the request's span (route template only, no raw path or query); FastAPI's
    # native tracing would add a second SERVER span recording the raw URL, so it stays off.
    kwargs.setdefault("telemetry", {"tracing": False})
    app = FastAPI(title=title, lifespan=lifespan, **kwargs)
    app.add_middleware(TraceMiddleware)
    app.add_middleware(HttpMetricsMiddleware, service=rt.settings.service_name)
    # Last added = outermost: a body over the limit is refused before any other layer reads it.
    app.add_middleware(BodySizeLimit, max_bytes=rt.settings.max_body_bytes)
    install_error_shape(app)  # one error shape on every service (a service's own handlers may refine it)
    app.state.runtime = rt
    app.state.revocation_feed = rt.revocation_feed  # the AsyncAPI document lists its subscription
    app.include_router(ops_router(rt))
    return app
