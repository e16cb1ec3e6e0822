"""Retention and deletion of personal data (PIPL art. 47; docs/retention.md, docs/adr/0125).

A case's personal data is kept for a period after the case *ended* (its last step in an ending state: closed,
transferred, resolved …); then every store erases it. Intake owns the case registry and so the decision: its
:class:`RetentionSweeper` finds the cases whose period has run out and, for each in ONE transaction, erases its own
copy and stages ``case.retention_expired`` in its outbox. Every other service that holds personal data erases its
copy when it reads that event (:func:`erase_on_expiry`: the kit's idempotent consumer, so once per case, retried,
dead-lettered on a poison message). Counts, states, dates and units stay: the statistics still count the case.

Each service's own store implements the erasure (its ``adapters/retention.py``); an erasure is idempotent (a second
run finds nothing left and changes nothing). The sweeper is safe with several replicas: the erasure's update is
conditional on the case still being due, so two replicas never both erase (and emit) the same case.

Operators watch ``yima_retention_last_pass_timestamp_seconds`` (the sweeper's heartbeat),
``yima_retention_due_backlog`` (cases past their period still holding personal data after a pass) and
``yima_retention_cases_erased_total`` (per service: the sweeper's and every consumer's erasures).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter, Gauge
from yima_contracts import CaseRetentionExpired, topics

from .consumer import EventConsumers
from .logging import get_logger
from .uow import Tx

log = get_logger(__name__)
T = TypeVar("T")

ERASED = Counter("yima_retention_cases_erased_total", "Cases whose personal data this service erased", ["service"])
ERASE_FAILURES = Counter("yima_retention_erase_failures_total",
                         "Erasures the retention sweeper tried and that failed (retried next pass)", ["service"])
DUE_BACKLOG = Gauge("yima_retention_due_backlog",
                    "Cases past their retention period whose personal data is still held, after the last pass",
                    ["service"])
LAST_PASS = Gauge("yima_retention_last_pass_timestamp_seconds", "When the retention sweeper last finished a pass",
                  ["service"])

Clock = Callable[[], datetime]
RunUnitOfWork = Callable[[Callable[[Tx], Awaitable[Any]]], Awaitable[Any]]


class RetentionStore(Protocol):
    """The owning service's side (intake): which cases are due, and the erasure of one with its event."""

    async def due(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of cases that ended at or before ``cutoff`` and still hold personal data, oldest first."""
        ...

    async def count_due(self, cutoff: datetime) -> int: ...

    async def erase(self, case_id: str, cutoff: datetime, retention: timedelta, tx: Tx) -> bool:
        """Erase the case's personal data and stage ``case.retention_expired`` in ``tx`` — only if the case is
        still due at ``cutoff`` (so a replica that lost the race does nothing); True when it erased."""
        ...


class RetentionSweeper:
    """Erases the personal data of every case whose retention period has run out, in batches, one transaction
    per case. Time is injectable (``clock``); ``as_of`` of :meth:`sweep` lets an operator (and the tests) sweep
    as of another day."""

    def __init__(self, service: str, store: RetentionStore, run: RunUnitOfWork, retention: timedelta, *,
                 clock: Clock | None = None, batch: int = 100, max_rounds: int = 1000) -> None:
        if retention <= timedelta(0):
            raise ValueError("the retention period must be positive")
        if batch < 1 or max_rounds < 1:
            raise ValueError("batch and max_rounds must be at least 1")
        self.service = service
        self.store = store
        self.run = run
        self.retention = retention
        self.now = clock or (lambda: datetime.now(UTC))
        self.batch = batch
        self.max_rounds = max_rounds

    def cutoff(self, as_of: datetime | None = None) -> datetime:
        return (as_of or self.now()) - self.retention

    async def run_once(self, as_of: datetime | None = None) -> tuple[int, int]:
        """One batch: (cases erased, cases found due). A case whose erasure fails is logged, counted and left for
        the next pass (it stays due)."""
        cutoff = self.cutoff(as_of)
        due = await self.store.due(cutoff, self.batch)
        erased = 0
        for case_id in due:
            async def work(tx: Tx, cid: str = case_id) -> bool:
                return await self.store.erase(cid, cutoff, self.retention, tx)

            try:
                done = bool(await self.run(work))
            except Exception:
                ERASE_FAILURES.labels(self.service).inc()
                log.exception("retention erasure failed; retried next pass", case_id=case_id)
                continue
            if done:
                erased += 1
                ERASED.labels(self.service).inc()
                log.info("personal data erased: retention period over", case_id=case_id)
        return erased, len(due)

    async def sweep(self, as_of: datetime | None = None) -> int:
        """Every due case, batch after batch (bounded by ``max_rounds``; a batch with a failure ends the pass so a
        case that keeps failing is not retried in a tight loop), then the gauges. Returns how many were erased."""
        total = 0
        for _ in range(self.max_rounds):
            erased, found = await self.run_once(as_of)
            total += erased
            if found < self.batch or erased < found:
                break
        await self.measure(as_of)
        return total

    async def measure(self, as_of: datetime | None = None) -> None:
        DUE_BACKLOG.labels(self.service).set(await self.store.count_due(self.cutoff(as_of)))
        LAST_PASS.labels(self.service).set_to_current_time()

    async def loop(self, every: float) -> None:
        """Sweep now and then every ``every`` seconds, for ever (a background task of the process)."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(every)


Erase = Callable[[str, Tx], Awaitable[bool]]

# What an erased text reads as, where a reader decrypts a field it expects to hold text: the field keeps a
# ciphertext — of this marker — so every page and list still renders (the case, not the person, stays).
ERASED_ZH = "（已删除）"

Replacement = Callable[[Any], Any]


def blanked(value: Any, fields: Mapping[str, Any]) -> Any:
    """``value`` with every dict key named in ``fields`` (at any depth, inside lists too) replaced: by the value in
    ``fields`` (None, say), or by what it gives for the old value when it is a function (:func:`marker`)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            rep = fields.get(k, _KEEP)
            out[k] = blanked(v, fields) if rep is _KEEP else (rep(v) if callable(rep) else rep)
        return out
    if isinstance(value, list):
        return [blanked(v, fields) for v in value]
    return value


_KEEP = object()


def marker(cipher: Any, context: str) -> Replacement:
    """A field a reader decrypts: it becomes the ciphertext of :data:`ERASED_ZH` under the field's ``context`` (a
    list of texts becomes one such item; None stays None). An existing marker is kept, so a second erasure changes
    nothing (the cipher is randomised: a fresh ciphertext would differ)."""
    fresh = cipher.encrypt(ERASED_ZH, context=context)

    def is_marker(v: Any) -> bool:
        try:
            return isinstance(v, str) and cipher.decrypt(v, context=context) == ERASED_ZH
        except Exception:
            return False

    def replace(old: Any) -> Any:
        if old is None:
            return None
        if isinstance(old, list):
            return old if len(old) == 1 and is_marker(old[0]) else ([fresh] if old else [])
        return old if is_marker(old) else fresh

    return replace


def erased_text(old: Any) -> Any:
    """A free text kept in clear (a reason, a note): becomes「（已删除）」; None and empty stay (they meant "none")."""
    return old if old is None or old == "" else ERASED_ZH


async def scrub(col: Any, query: dict[str, Any], fields: Mapping[str, Any], session: Any) -> int:
    """Replace the ``fields`` (at any depth) of every document matching ``query`` — read each, then one update of
    the top-level fields that change; returns how many documents changed. Idempotent: a second run changes
    nothing."""
    changed = 0
    async for doc in col.find(query, session=session):
        new = blanked({k: v for k, v in doc.items() if k != "_id"}, fields)
        diff = {k: v for k, v in new.items() if v != doc.get(k)}
        if diff:
            await col.update_one({"_id": doc["_id"]}, {"$set": diff}, session=session)
            changed += 1
    return changed


class ErasingStore(Protocol):
    async def erase(self, case_id: str, tx: Tx) -> bool: ...


S = TypeVar("S", bound=ErasingStore)


def wire_store(rt: Any, store: S) -> S:
    """A service's store of personal data wired into its process (a :class:`yima_kit.runtime.Runtime`): its indexes
    at start (the store's ``setup``, when it has one) and its consumer of ``case.retention_expired``."""
    setup = getattr(store, "setup", None)
    if setup is not None:
        async def on_start(_: Any) -> None:
            await setup()

        rt.on_start.append(on_start)
    erase_on_expiry(rt.consumers, store.erase)
    return store


def erase_on_expiry(consumers: EventConsumers, erase: Erase) -> None:
    """Subscribe ``erase(case_id, tx)`` to ``case.retention_expired`` through the kit's idempotent consumer: the
    service's copy of the case's personal data is erased once, in the consumer's transaction. ``erase`` returns
    whether it found anything to erase (counted in ``yima_retention_cases_erased_total``)."""
    service = consumers.service

    # A group of its own: a rare event's member does not make the service's main group rebalance at every start.
    @consumers.subscribe(topics.CASE_RETENTION_EXPIRED, CaseRetentionExpired, name="retention",
                         group_id=f"yima-{service}.retention", rare=True)
    async def on_retention_expired(event: CaseRetentionExpired, tx: Tx) -> None:
        """保存期限届满：删除本服务保存的该案个人信息（姓名、电话、身份证号、地址、陈述），保留统计所需的计数与状态。"""
        if await erase(event.case_id, tx):
            tx.after_commit(ERASED.labels(service).inc)  # counted once, for the attempt that committed
            log.info("personal data erased: retention period over", case_id=event.case_id)
