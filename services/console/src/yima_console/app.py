"""The console's app: the staff pages under /console, ``/health`` and ``/livez``. No database: every
page calls the services' APIs with the signed-in person's token (docs/adr/0085-staff-console-service.md). Kafka
only for the revoked sessions it refuses (``staff.session_revoked``, read in the background: ADR 0130, 0132)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from yima_kit.auth import SessionRevocations, TokenVerifier
from yima_kit.logging import configure_logging, get_logger
from yima_kit.revocation_feed import RevocationFeed

from . import refresh
from .api import Api, ApiError, PasswordChangeRequired, SessionEnded
from .config import ConsoleSettings
from .pages import admin, analyst, case, dispatch, inbox, joint, leader, mediation, session, supervise, walkin
from .ui import PREFIX
from .web import FORCED, Web

log = get_logger("console")


def create_app(settings: ConsoleSettings | None = None, *, consume: bool = False, relay: bool = False,
               transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> FastAPI:
    """``consume`` and ``relay`` are accepted for the shared CLI; the console has neither consumers nor outbox.
    ``transports``: tests reach a service's app in the same process."""
    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level)
    if settings.environment == "production" and not settings.auth_public_keys:
        raise RuntimeError("YIMA_AUTH_PUBLIC_KEYS must be set in production")
    if not settings.auth_public_keys:
        log.warning("YIMA_AUTH_PUBLIC_KEYS not set: staff tokens verify with the development key")
    api = Api(settings, transports)
    revocations = SessionRevocations()  # sessions routing ended (logout, new password …): refused at once
    web = Web(settings, api, TokenVerifier.from_setting(settings.auth_public_keys, revocations))
    feed = RevocationFeed(settings.kafka_bootstrap, settings.kafka_auth, revocations, service="console",
                          lookback=timedelta(minutes=settings.session_revocation_lookback_minutes))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await feed.start()  # in the background: the console answers while it connects (ADR 0132)
        log.info("service started", routing=settings.routing_url)
        try:
            yield
        finally:
            await feed.stop()
            await api.close()

    app = FastAPI(title="yima console 工作台", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.web = web
    app.state.revocation_feed = feed

    @app.exception_handler(PasswordChangeRequired)
    async def _must_change(_: Request, __: PasswordChangeRequired) -> Response:
        return RedirectResponse(FORCED, status_code=303)

    @app.exception_handler(SessionEnded)
    async def _ended(_: Request, __: SessionEnded) -> Response:
        return web.to_login("ended")

    @app.get("/health", summary="Readiness: the console answers and routing (sign-in) is reachable")
    async def health(response: Response) -> dict[str, Any]:
        try:
            await api.raw("routing", "GET", "/livez", None)
            ok = True
        except ApiError:
            ok = False
        response.status_code = 200 if ok else 503
        return {"status": "ok" if ok else "degraded", "routing": ok, "revocations": feed.status()}

    @app.get("/livez", summary="Liveness: the process answers")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(PREFIX, status_code=303)

    refresh.install(app, web)
    for module in (session, inbox, supervise, dispatch, case, walkin, leader, joint, admin, analyst, mediation):
        app.include_router(module.router)
    return app
