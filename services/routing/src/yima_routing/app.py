"""App factory of the routing service."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from yima_kit.audit import AuditLog
from yima_kit.auth import DEV_KID, DEV_PRIVATE_KEY, TokenIssuer
from yima_kit.logging import get_logger
from yima_kit.runtime import Runtime, http_app

from .accounts import HASHER, Accounts, LoginPolicy
from .adapters import http, kafka, retention
from .adapters.mongo_accounts import MongoStaffAccounts
from .adapters.mongo_directory import DirectoryStore
from .adapters.mongo_repo import MongoRepositories
from .adapters.mongo_rules import RulesStore
from .adapters.sweeper import Sweeper
from .adapters.unit_topics import UnitTopics
from .config import RoutingSettings
from .core.directory import Directory
from .core.rules import RuleSet
from .service import Clock, RoutingService

log = get_logger(__name__)


def check_production(settings: RoutingSettings) -> None:
    """Production refuses what is published in this repository: the demo password for seeded staff and the
    development signing key (anyone could sign staff tokens with it)."""
    if settings.environment != "production":
        return
    if settings.seed_staff_password:
        raise RuntimeError("production refuses a seeded staff password (YIMA_ROUTING_SEED_STAFF_PASSWORD must be "
                           "empty; the first admin is set up with `yima-routing bootstrap-admin`)")
    if not settings.auth_private_key or settings.auth_private_key.strip() == DEV_PRIVATE_KEY.strip():
        raise RuntimeError("production refuses the development signing key: set YIMA_ROUTING_AUTH_PRIVATE_KEY")


@dataclass
class Parts:
    """What one routing process is made of (wired here, nowhere else)."""

    settings: RoutingSettings
    rt: Runtime
    seed: Directory
    rules: RuleSet
    store: DirectoryStore
    unit_topics: UnitTopics
    repos: MongoRepositories
    service: RoutingService
    accounts: Accounts
    audit: AuditLog
    rules_store: RulesStore
    sweeper: Sweeper


def _accounts(settings: RoutingSettings, rt: Runtime, store: DirectoryStore, clock: Clock) -> Accounts:
    check_production(settings)
    if not settings.auth_private_key:
        log.warning("YIMA_ROUTING_AUTH_PRIVATE_KEY not set: staff tokens are signed with the development key")
    if settings.token_ttl_minutes + 2 > settings.session_revocation_lookback_minutes:
        # A process started now must still read back the revocation of every token that can still be presented.
        raise ValueError("YIMA_SESSION_REVOCATION_LOOKBACK_MINUTES must exceed the token lifetime "
                         f"({settings.token_ttl_minutes} min) by 2 minutes at least")
    issuer = TokenIssuer(settings.auth_private_key or DEV_PRIVATE_KEY, settings.auth_kid or DEV_KID)
    return Accounts(MongoStaffAccounts(rt.db), lambda: store.current, issuer, rt.cipher, LoginPolicy(
        max_failures=settings.login_max_failures, lockout=timedelta(minutes=settings.login_lockout_minutes),
        token_ttl=timedelta(minutes=settings.token_ttl_minutes),
        idle=timedelta(minutes=settings.session_idle_minutes),
        max_failures_per_source=settings.login_max_failures_per_source),
        clock=clock, revocations=rt.revocations, uow=rt.uow)


def _parts(settings: RoutingSettings, clock: Clock | None) -> Parts:
    seed = Directory.load(settings.directory_file)
    rules = RuleSet.load(settings.rules_file)
    if seed.get(rules.default_unit) is None:
        raise ValueError(f"default unit {rules.default_unit} of the rules is not in the directory")
    rt = Runtime.create(settings)
    store = DirectoryStore(rt.db)
    store.current = seed  # until the stored directory is loaded at start
    unit_topics = UnitTopics(settings.kafka_bootstrap, settings.unit_topic_partitions, auth=settings.kafka_auth)
    repos = MongoRepositories(rt.db)
    service = RoutingService(repos, lambda: store.current, rules, rt.cipher, client=rt.client, outbox=rt.outbox,
                             ensure_topic=unit_topics.ensure, clock=clock)
    accounts = _accounts(settings, rt, store, clock or service.now)
    return Parts(settings, rt, seed, rules, store, unit_topics, repos, service, accounts, AuditLog(rt.db, rt.cipher),
                 RulesStore(rt.db), Sweeper(service, repos, service.now))


async def _start(p: Parts, sweep: bool) -> None:
    started = time.monotonic()
    settings, service, store = p.settings, p.service, p.store
    for part in (service, store, p.audit, p.accounts):
        await part.setup()
    if settings.seed_staff_password:
        log.warning("seeded staff get the configured initial password (demo only; must change at first login)")
    pw = HASHER.hash(settings.seed_staff_password) if settings.seed_staff_password else None
    written = await store.seed(p.seed, pw)
    directory = await store.load()
    if settings.environment == "production" and (n := await p.accounts.seeded_password_accounts()):
        raise RuntimeError(f"production refuses to start: {n} active staff accounts still have the seeded "
                           "demo password (reset them, or deactivate them)")
    service.rules = await p.rules_store.register_file(p.rules)
    # Deadlines computed while a year was unpublished: recompute with the admin's days or a newer package.
    recomputed = await service.recompute_provisional()
    # Unit topics: the kinds that usually run their own systems now, every other unit at its first
    # assignment (docs/adr/0021-unit-topics-on-demand.md).
    await p.unit_topics.load_existing()
    # …and every unit that answers from its own system (its feedback topic must exist to be written).
    eager = [u.code for u in directory.units.values()
             if u.kind.value in settings.eager_topic_kinds or not u.in_platform]
    await p.unit_topics.ensure_many(eager)
    log.info("routing ready", units=len(directory.units), staff=len(directory.staff), seeded=written,
             eager_unit_topics=len(eager), recomputed_deadlines=recomputed,
             startup_ms=round((time.monotonic() - started) * 1000))
    if sweep:
        p.rt.background.append(asyncio.create_task(p.sweeper.loop(settings.sweep_seconds)))
    p.rt.background.append(asyncio.create_task(store.refresher(settings.directory_refresh_seconds)))
    p.rt.background.append(asyncio.create_task(_refresh_rules(p, settings.directory_refresh_seconds)))


async def _refresh_rules(p: Parts, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            active = await p.rules_store.active()
            if active is not None and active.version != p.service.rules.version:
                p.service.rules = active
        except Exception:
            log.exception("rules refresh failed")


def create_app(settings: RoutingSettings | None = None, *, consume: bool = True, relay: bool = True,
               clock: Clock | None = None, sweep: bool = True) -> FastAPI:
    p = _parts(settings or RoutingSettings(), clock)

    async def start(_: Runtime) -> None:
        await _start(p, sweep)

    p.rt.on_start.append(start)
    kafka.register(p.rt.consumers, p.service)
    retention.install(p.rt)  # erases the case's personal data on case.retention_expired (docs/retention.md)
    app = http_app(p.rt, title="yima routing 分流交办与督办", consume=consume, relay=relay)
    http.install(app, http.Web(p.service, p.store, p.accounts, p.audit, p.rules_store,
                               trust_forwarded_for=p.settings.trust_forwarded_for))
    app.state.service = p.service
    app.state.store = p.store
    app.state.sweeper = p.sweeper
    app.state.repos = p.repos
    app.state.audit = p.audit
    app.state.accounts = p.accounts
    app.state.unit_topics = p.unit_topics
    return app
