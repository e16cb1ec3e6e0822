"""The load: residents submitting over HTTP from many addresses, and the outside world on Kafka.

``Submitter`` posts cases to intake's public API, each request from one of many loopback source addresses
(127.0.0.2, 127.0.0.3, …: intake limits submissions per client address, and the limit is not what is measured).
``Watcher`` is a plain Kafka consumer, as a department's system or a dashboard would run one: it reads
``case.assigned``, ``case.status``, ``notification.sent`` and every ``unit.<code>.cases`` topic, and answers each
work order of a unit that works in its own system on the unit's ``unit.<code>.feedback`` (raw JSON, README "For
a department's own system"; ADR 0071). Everything is keyed by case id; figures are computed afterwards from the
timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from yima_contracts.topics import unit_feedback_topic
from yima_kit.kafka_auth import client_kwargs

WATCHED = r"^(case\.assigned|case\.status|notification\.sent|unit\..+\.cases)$"
MAX_ADDRESSES = 250
TIMEOUT, CONNECTION_ERROR = -1, 0  # Submission.status when no HTTP answer came  # 127.0.0.2 … 127.0.0.251

# (description, unit code of the place): a spread over categories and communities; 黄河社区 and the district
# departments answer from their own systems (the bench answers for them), the rest work in yima's console.
CASES: tuple[tuple[str, str], ...] = (
    ("楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管", "410105001001"),
    ("小区里邻居在楼道堆放杂物，多次沟通无果", "410105001002"),
    ("包工头拖欠我们三个月工资，一共两万多元", "410105001001"),
    ("我在工地干了三个月，包工头一直拖欠工资两万三千元不给，多次讨要无果", "410105001003"),
    ("物业公司乱收停车费，小区业主意见很大，物业不理睬", "410105001001"),
    ("隔壁饭店油烟和噪音太大，晚上十一点还在营业，影响休息", "410105001004"),
    ("买的房子交房一年了还没办下房产证，开发商一直拖着", "410105001001"),
    ("婆媳之间因为赡养老人的事情经常吵架，希望有人来调解", "410105001005"),
    ("在网上买的电器有质量问题，商家拒绝退货", "410105001001"),
    ("邻居装修把承重墙打掉了，我家墙面出现裂缝", "410105001006"),
)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def check_local(url: str) -> None:
    host = urlparse(url).hostname or ""
    if not host.startswith("127."):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.x, not to {host!r} ({url})")


@dataclass
class Submission:
    case_id: str | None
    phase: str
    sent_at: float  # wall clock, seconds
    latency_s: float
    status: int
    tracking_code: str | None = None  # without separators


@dataclass
class Submitter:
    intake_url: str
    addresses: int = 200
    timeout_s: float = 60.0
    results: list[Submission] = field(default_factory=list)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _n: int = 0

    async def start(self) -> None:
        check_local(self.intake_url)
        if not 1 <= self.addresses <= MAX_ADDRESSES:
            raise ValueError(f"--addresses must be 1…{MAX_ADDRESSES}")
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        self._clients = [
            httpx.AsyncClient(base_url=self.intake_url, timeout=self.timeout_s, limits=limits,
                              transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{2 + i}", limits=limits))
            for i in range(self.addresses)
        ]

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()

    def body(self, i: int) -> dict[str, Any]:
        description, unit = CASES[i % len(CASES)]
        return {"channel": "self_service", "applicant": {"name": "张三", "phone": f"139{i % 10**8:08d}"},
                "description": description, "location": {"unit_code": unit}}

    async def submit(self, phase: str) -> Submission:
        i = self._n
        self._n += 1
        client = self._clients[i % len(self._clients)]
        body = self.body(i)
        sent_at, t0 = time.time(), time.perf_counter()
        try:
            r = await client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            status = r.status_code
            answer = r.json() if status in (200, 201) else {}
            case_id, code = answer.get("case_id"), (answer.get("tracking_code") or "").replace("-", "") or None
        except httpx.TimeoutException:
            status, case_id, code = TIMEOUT, None, None  # the case may still be registered: see Watcher
        except httpx.HTTPError:
            status, case_id, code = CONNECTION_ERROR, None, None
        s = Submission(case_id, phase, sent_at, time.perf_counter() - t0, status, code)
        self.results.append(s)
        return s


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class Watcher:
    bootstrap: str
    resolve: bool = False  # departments also answer "resolved" right after "accepted"
    started_at: float = field(default_factory=time.time)
    assigned: dict[str, float] = field(default_factory=dict)  # case id → case.assigned record time
    sources: dict[str, tuple[str, float]] = field(default_factory=dict)  # event id → (case id, occurred_at)
    notes: list[tuple[str, str, float]] = field(default_factory=list)  # (case id, source event id, record time)
    held: dict[tuple[str, str, float], float] = field(default_factory=dict)  # a note → its held_until (epoch s)
    status_seen: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    answered: int = 0
    last_note_at: float = 0.0
    last_assigned_at: float = 0.0
    last_activity_at: float = 0.0  # any record of any watched topic (cases whose request timed out count too)
    errors: list[str] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _producer: AIOKafkaProducer | None = None
    _task: asyncio.Task[None] | None = None
    _pending: list[asyncio.Future[Any]] = field(default_factory=list)

    async def start(self, timeout_s: float = 60.0) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                          **client_kwargs())
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=f"yima-bench-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest", enable_auto_commit=False, metadata_max_age_ms=2000,
            session_timeout_ms=60_000, heartbeat_interval_ms=5_000, max_poll_interval_ms=3_600_000,
            **client_kwargs(),
        )  # never commits: its offsets would count as the platform's Kafka writes
        await self._consumer.start()
        self._consumer.subscribe(pattern=WATCHED)
        self._task = asyncio.create_task(self._run())
        deadline = time.monotonic() + timeout_s
        while not self._consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError("the benchmark's Kafka consumer got no partitions")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # bounded: the figures are already taken, a busy broker must not keep the run from ending
        if self._pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._pending, return_exceptions=True), 30)
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.stop(), 30)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                for r in records:
                    try:
                        await self._on(tp.topic, r.timestamp / 1000, json.loads(r.value or b"{}"))
                    except Exception as exc:  # one odd record must not stop the measurement
                        if len(self.errors) < 20:
                            self.errors.append(f"{tp.topic}: {type(exc).__name__}: {exc}")
            self._pending = [f for f in self._pending if not f.done()]

    async def _on(self, topic: str, at: float, ev: dict[str, Any]) -> None:
        case_id = ev.get("case_id", "")
        self.last_activity_at = max(self.last_activity_at, at)
        if topic == "case.assigned":
            self.assigned.setdefault(case_id, at)
            self.last_assigned_at = max(self.last_assigned_at, at)
            occurred = _epoch(ev.get("occurred_at"))
            if occurred is not None:
                self.sources[ev["event_id"]] = (case_id, occurred)
        elif topic == "case.status":
            self.status_seen[ev.get("state", "?")] += 1
            occurred = _epoch(ev.get("occurred_at"))
            if occurred is not None:
                self.sources[ev["event_id"]] = (case_id, occurred)
        elif topic == "notification.sent":
            self.notes.append((case_id, ev.get("source_event_id", ""), at))
            if (held := _epoch(ev.get("held_until"))) is not None:
                self.held[(case_id, ev.get("source_event_id", ""), at)] = held
            self.last_note_at = max(self.last_note_at, at)
        elif topic.startswith("unit."):
            self.orders += 1
            if not ev.get("in_platform") and at >= self.started_at - 1:
                await self._answer(ev, "accepted")
                if self.resolve:
                    await self._answer(ev, "resolved")

    async def _answer(self, order: dict[str, Any], kind: str) -> None:
        assert self._producer is not None
        unit = order["unit_code"]
        feedback = {
            "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1", "case_id": order["case_id"],
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": order["correlation_id"],
            "actor": {"kind": "unit_system", "unit_code": unit},
            "assignment_id": order["assignment_id"], "unit_code": unit, "kind": kind,
        }
        # the unit's own feedback topic (ADR 0071); the bench writes it as the super user of the local broker
        fut = await self._producer.send(unit_feedback_topic(unit), json.dumps(feedback).encode(),
                                        key=order["case_id"].encode())
        self._pending.append(fut)
        self.answered += 1

    def notification_lags(self, case_ids: set[str], *, past_hold: bool = False) -> list[tuple[float, float]]:
        """(source occurred_at, lag in seconds) of every notification sent for these cases whose source event
        (a case.status step or a case.assigned) the watcher saw. ``past_hold``: the lag from the later of the
        source event and the time the policy held the message to (``held_until``: quiet hours, the digest
        window's one text per person, a retry's back-off) — how far notify is behind, not how long it waited by
        design."""
        out = []
        for note in self.notes:
            case_id, source, at = note
            if case_id in case_ids and source in self.sources:
                occurred = self.sources[source][1]
                start = max(occurred, self.held.get(note, occurred)) if past_hold else occurred
                out.append((occurred, at - start))
        return out
