"""The durable supervision sweeper (谁分配、谁督办).

State lives on the assignment documents (``sup_next_at`` indexed, partial on running chains), so the sweeper
survives restarts: after a crash it finds whatever came due meanwhile. Several replicas may sweep at once:

1. a replica *claims* a due assignment with one atomic ``find_one_and_update`` (``sup_claimed_until`` in the
   future), so replicas spread the work instead of colliding;
2. it fires the step in a transaction that also stages the events in the outbox, and the update is conditional
   on the step still being the next one (``RoutingService.fire_step``) — so even a replica whose claim expired
   mid-step cannot fire a step twice: the second transaction matches nothing and emits nothing.

Time is injectable (``clock``) so tests drive a simulated calendar.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from pymongo import ReturnDocument
from yima_kit.consumer import Tx
from yima_kit.logging import get_logger

from ..service import Clock, RoutingService
from .mongo_repo import MongoRepositories

log = get_logger(__name__)
STEPS_FIRED = Counter("yima_routing_supervision_steps_total", "supervision steps fired", ["step"])
# Read by the alert "overdue cases without a notice" (deploy/monitoring): steps that are due and not fired after
# a pass, and when the last pass ended (a sweeper that stopped passing notifies nobody).
DUE_BACKLOG = Gauge("yima_routing_supervision_due_backlog", "Supervision steps due and not fired after the last pass")
OVERDUE = Gauge("yima_routing_overdue_cases", "Assignments past their deadline whose supervision chain still runs")
LAST_PASS = Gauge("yima_routing_sweeper_last_pass_timestamp_seconds", "When the sweeper last finished a pass")


class Sweeper:
    def __init__(self, service: RoutingService, repos: MongoRepositories, clock: Clock, *,
                 claim_for: timedelta = timedelta(seconds=60),
                 batch: int = 100) -> None:
        self.service = service
        self.assignments, self.joints, self.cases = repos.assignments.col, repos.joints.col, repos.cases.col
        self.now = clock
        self.claim_for = claim_for
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    async def _claim(self) -> dict[str, Any] | None:
        return await self._claim_due(
            self.assignments, "sup_next_at", "sup_claimed_until", {"sup_active": True, "paused": False},
            also={"sup_claimed_by": self.owner}, projection={"sup_next_step": 1})

    async def _claim_due(self, col: Any, due: str, claimed: str, match: dict[str, Any], *,
                         also: dict[str, Any] | None = None,
                         projection: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Claim the earliest document whose ``due`` time has come and that nobody holds (``claimed`` is a
        lease: a sweeper that died lets it lapse and another takes the reminder over). A read over an index
        holding every field of ``match`` and ``due`` first — the idle sweep's whole cost; then a compare-and-set
        by ``_id`` on the ``claimed`` value it read, so two replicas never claim the same document."""
        now = self.now()
        cursor = col.find({**match, due: {"$lte": now}}, {claimed: 1}).sort(due, 1).limit(self.batch)
        async for cand in cursor:
            held = _get(cand, claimed)
            if held is not None and _aware(held) >= now:
                continue  # another replica works on it
            doc: dict[str, Any] | None = await col.find_one_and_update(
                {"_id": cand["_id"], claimed: held},
                {"$set": {claimed: now + self.claim_for, **(also or {})}},
                projection=projection or {"_id": 1}, return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return doc
        return None

    async def _claim_joint(self) -> dict[str, Any] | None:
        return await self._claim_due(self.joints, "report_by", "claimed_until", {"reminded": False})

    async def _claim_redispatch(self) -> dict[str, Any] | None:
        return await self._claim_due(self.cases, "pending_dispatch.remind_at",
                                     "pending_dispatch.claimed_until", {"pending_dispatch.reminded": False})

    async def run_once(self) -> int:
        """Fire every step that is due now (supervision chains, joint report-ins, returned cases waiting for
        re-dispatch); returns how many fired."""
        fired = await self._run_chains()
        fired += await self._run_reminders(self._claim_joint, self.service.remind_joint, "joint report-in")
        fired += await self._run_reminders(self._claim_redispatch, self.service.remind_redispatch, "re-dispatch")
        return fired

    async def _run_reminders(self, claim: Callable[[], Awaitable[dict[str, Any] | None]],
                             remind: Callable[[str, Tx], Awaitable[bool]], what: str) -> int:
        fired = 0
        for _ in range(self.batch):
            doc = await claim()
            if doc is None:
                break
            key: str = doc["_id"]

            async def one(tx: Tx, k: str = key) -> bool:
                return await remind(k, tx)

            try:
                fired += bool(await self.service.run(one))
            except Exception:
                log.exception("reminder failed; it will be retried", what=what, id=key)
        return fired

    async def _run_chains(self) -> int:
        fired = 0
        for _ in range(self.batch):
            doc = await self._claim()
            if doc is None:
                break
            step: str = doc["sup_next_step"]
            assignment_id: str = doc["_id"]

            async def fire(tx: Tx, aid: str = assignment_id, s: str = step) -> bool:
                return await self.service.fire_step(aid, s, tx)

            try:
                ok = await self.service.run(fire)
            except Exception:
                log.exception("supervision step failed; it will be retried", assignment_id=doc["_id"], step=step)
                continue
            fired += bool(ok)
            if ok:
                STEPS_FIRED.labels(step=step).inc()
                log.info("supervision step fired", assignment_id=doc["_id"], step=step)
        return fired

    async def measure(self) -> None:
        """The pass's gauges: two counts served by the indexes on running chains."""
        now = self.now()
        running = {"sup_active": True, "paused": False}
        DUE_BACKLOG.set(await self.assignments.count_documents({**running, "sup_next_at": {"$lte": now}}))
        OVERDUE.set(await self.assignments.count_documents({"sup_active": True, "due_at": {"$lt": now}}))
        LAST_PASS.set_to_current_time()

    async def loop(self, every: float) -> None:
        while True:
            try:
                while await self.run_once() >= self.batch:
                    pass
                await self.measure()
            except Exception:
                log.exception("sweeper pass failed")
            await asyncio.sleep(every)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)  # type: ignore[assignment]
    return doc


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
