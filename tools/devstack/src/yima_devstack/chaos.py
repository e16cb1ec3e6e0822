"""The fault suite (``./yima chaos``): a steady load of cases runs through the whole platform — every service its
own process, real Kafka and database, SMS and webhooks at the local dev gateway — while faults are injected one
after another; afterwards it checks from outside that nothing was lost or done twice, and prints a table.

Faults (the full run; ``--quick`` runs a few of them, as the test suite does):

- SIGKILL of each service's serve process (HTTP + consumers + relay) in turn, restarted after a pause;
- SIGKILL of one of two replicas of each consumer role (a second ``consume`` process runs beside ``serve``): the
  group rebalances and the survivor takes over; the killed replica is not restarted;
- a restart of the Kafka broker, and separately of the database server, mid-load;
- poison messages on every consumed topic: malformed JSON, an unknown event type, a valid envelope of a type the
  topic does not carry.

Checks, from outside only (HTTP answers, Kafka topics, the dev gateway):

- every acknowledged submission (HTTP 201) is assigned, once: one ``case.assigned`` event id per case
  (a relay may publish an event twice after a crash — same event id, consumers skip it — but never two
  assignments);
- every applicant got exactly one registration text, and no delivery was done twice: no notification has two
  ``notification.sent`` events with different ids, and the gateway shows no text twice to one phone under two keys;
- every poison message is in a ``dlq.<service>`` topic with its reason, and cases submitted after it were
  still assigned (the consumers went on).

Per fault the table gives: cases in flight when it struck, lost, duplicated, and recovered-in (seconds from the
fault until a case submitted after it was assigned).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from yima_kit.kafka_auth import KafkaAuth, client_kwargs

from ._aio import run_sync
from .app import app
from .infra import Endpoints, LocalInfra, free_port
from .platform import GATEWAY_MODULE, gateway_settings
from .services import SERVICE_PORTS, Platform, ServiceProcess, peer_env, service_env
from .topics import ensure_topics, platform_topics

COMMUNITY = "410105001001"  # 黄河社区 in the demo directory: answers from its own system (no console work)
CONSUMER_SERVICES = ("routing", "risk", "mediation", "notify")
# Topics the services consume, poisoned once each (the dead-letter topics tell which consumer took it).
POISONED_TOPICS = ("case.submitted", "case.risk_assessed", "case.assigned", "case.feedback", "case.status")
DESCRIPTIONS = (
    "楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管",
    "小区物业乱收停车费，电梯坏了一个月也不修",
    "邻居在楼道里堆放杂物，影响通行，说了也不听",
)


def kafka_kwargs(bootstrap: str, auth: KafkaAuth | None = None) -> dict[str, Any]:
    """Connection settings of the suite's own Kafka clients (the super user: it reads every topic and poisons
    consumed ones; None: the YIMA_KAFKA_… environment)."""
    return {"bootstrap_servers": bootstrap, **client_kwargs(auth)}


@dataclass
class Submitted:
    case_id: str
    phone: str
    tracking_code: str
    at: float


@dataclass
class Row:
    fault: str
    in_flight: int = 0
    lost: int = 0
    duplicated: int = 0
    recovered_s: float | None = None
    note: str = ""


@dataclass
class Observed:
    """What the suite saw on the topics, live."""

    assigned_at: dict[str, float] = field(default_factory=dict)  # case_id -> first time assigned
    assigned_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # case_id -> event ids
    sent_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # notification_id -> event ids
    dlq: list[tuple[str, dict[str, str], bytes | None]] = field(default_factory=list)  # (dlq topic, headers, key)


class Chaos:
    def __init__(self, *, rate: float, phase_seconds: float, quick: bool, workdir: Path,
                 echo: Callable[[str], None] = print) -> None:
        self.rate = rate
        self.phase_seconds = phase_seconds
        self.quick = quick
        self.workdir = workdir
        self.echo = echo
        self.infra: LocalInfra | None = None
        self.endpoints: Endpoints | None = None
        self.platform: Platform | None = None
        self.env: dict[str, str] = {}
        self.submitted: dict[str, Submitted] = {}
        self.refused = 0  # no answer: intake was down (not acknowledged, so not the platform's to keep)
        self.answered: Counter[int] = Counter()  # status codes of the answers that were not 201
        self.seen = Observed()
        self.rows: list[Row] = []
        self.poison_keys: dict[str, str] = {}  # key -> topic
        self._n = 0
        self._stop_load = asyncio.Event()

    # ------------------------------------------------------------------------------------------ the stack

    def _kafka(self) -> dict[str, Any]:
        assert self.endpoints is not None
        return kafka_kwargs(self.endpoints.kafka_bootstrap, self.endpoints.kafka_auth())

    def start_stack(self) -> None:
        self.infra = LocalInfra(self.workdir / "infra")
        self.infra.install()
        self.endpoints = self.infra.start()
        run_sync(ensure_topics(self.endpoints.kafka_bootstrap, platform_topics(), auth=self.endpoints.kafka_auth()))
        ports = {n: free_port() for n in SERVICE_PORTS}
        # Each service with its own Kafka principal (docs/adr/0070), as in production.
        self.platform = Platform(log_dir=self.workdir / "logs", db_prefix=f"chaos{uuid.uuid4().hex[:6]}_",
                                 ports=ports, service_env=self.endpoints.service_kafka_env)
        gateway_port = free_port()
        extra = {
            **gateway_settings(f"http://127.0.0.1:{gateway_port}", {}),
            "YIMA_CONSUMER_RETRY_BASE_SECONDS": "0.05",
            "YIMA_INTAKE_SUBMIT_RATE_PER_MINUTE": "100000",  # per-IP limits are not what is tested
            "YIMA_NOTIFY_CLAIM_TTL_SECONDS": "10",  # a dead worker's claim is taken over sooner
        }
        self.env = {**peer_env(ports),
                    **service_env(self.endpoints.kafka_bootstrap, self.endpoints.mongo_url,
                                  db_prefix=self.platform.db_prefix, extra=extra)}
        self.gateway = self.platform.start_helper("devgateway", GATEWAY_MODULE, gateway_port, self.env)
        self.platform.start(self.env)
        # The second replica of every consumer role: a `consume` process in the same group.
        for name in CONSUMER_SERVICES:
            replica = ServiceProcess(name, free_port(), self.workdir / "logs" / f"{name}-consume.log")
            replica.start(self.platform.env_for(name, self.env), role="consume")
            self.platform.procs[f"{name}-consume"] = replica
        self.platform.wait_healthy(timeout=180)

    def stop_stack(self) -> None:
        if self.platform is not None:
            self.platform.stop()
        if self.infra is not None:
            self.infra.stop()

    # ------------------------------------------------------------------------------------------ load

    async def load(self) -> None:
        """Submit cases at ``rate`` per second from many loopback addresses until told to stop."""
        assert self.platform is not None
        url = f"{self.platform.procs['intake'].url}/api/v1/cases"
        clients = [httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{i + 2}"),
                                     timeout=10) for i in range(8)]
        pending: set[asyncio.Task[None]] = set()
        try:
            while not self._stop_load.is_set():
                self._n += 1
                task = asyncio.create_task(self._submit(clients[self._n % len(clients)], url, self._n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_load.wait(), 1 / self.rate)
            if pending:
                await asyncio.wait(pending, timeout=15)
        finally:
            for c in clients:
                await c.aclose()

    async def _submit(self, client: httpx.AsyncClient, url: str, n: int) -> None:
        phone = f"139{n:04d}{n % 10000:04d}"[:11]
        body = {"channel": "self_service", "applicant": {"name": "测试居民", "phone": phone},
                "description": DESCRIPTIONS[n % len(DESCRIPTIONS)], "location": {"unit_code": COMMUNITY}}
        try:
            r = await client.post(url, json=body, headers={"Idempotency-Key": f"chaos-{n}"})
        except httpx.HTTPError:
            self.refused += 1
            return
        if r.status_code == 201:
            data = r.json()
            self.submitted[data["case_id"]] = Submitted(data["case_id"], phone,
                                                        str(data["tracking_code"]).replace("-", ""),
                                                        time.monotonic())
        else:
            self.answered[r.status_code] += 1

    # ------------------------------------------------------------------------------------------ watching

    async def watch(self) -> None:
        """Follow case.assigned, notification.sent and every dlq.* topic from the beginning."""
        assert self.endpoints is not None
        while True:
            consumer = AIOKafkaConsumer(**self._kafka(), enable_auto_commit=False,
                                        auto_offset_reset="earliest")
            try:
                await consumer.start()
                dlqs = [t for t in platform_topics() if t.startswith("dlq.")]
                tps = [TopicPartition(t, p) for t in ("case.assigned", "notification.sent", *dlqs)
                       for p in (consumer.partitions_for_topic(t) or await self._partitions(consumer, t))]
                consumer.assign(tps)
                positions = getattr(self, "_positions", {})
                for tp in tps:
                    if tp in positions:
                        consumer.seek(tp, positions[tp])
                    else:
                        await consumer.seek_to_beginning(tp)
                while True:
                    for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                        for rec in records:
                            self._observe(tp.topic, rec)
                        positions[tp] = records[-1].offset + 1
                    self._positions = positions
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker restarted under us: reconnect and go on from where we were
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        await consumer._client.force_metadata_update()
        return consumer.partitions_for_topic(topic) or set()

    def _observe(self, topic: str, rec: Any) -> None:
        if topic.startswith("dlq."):
            headers = {k: (v or b"").decode(errors="replace") for k, v in rec.headers or ()}
            self.seen.dlq.append((topic, headers, rec.key))
            return
        try:
            data = json.loads(rec.value)
        except (TypeError, ValueError):
            return
        if topic == "case.assigned":
            case_id = str(data.get("case_id"))
            self.seen.assigned_ids[case_id].add(str(data.get("event_id")))
            self.seen.assigned_at.setdefault(case_id, time.monotonic())
        elif topic == "notification.sent":
            self.seen.sent_ids[str(data.get("notification_id"))].add(str(data.get("event_id")))

    # ------------------------------------------------------------------------------------------ faults

    def _faults(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        faults: list[tuple[str, Callable[[], Awaitable[str]]]] = []
        services = ("routing", "notify") if self.quick else tuple(SERVICE_PORTS)
        for name in services:
            faults.append((f"SIGKILL {name} (serve: API, consumers, relay)", self._kill_and_restart(name)))
        replicas = ("risk",) if self.quick else CONSUMER_SERVICES
        for name in replicas:
            faults.append((f"SIGKILL 1 of 2 {name} consumers", self._kill_replica(f"{name}-consume")))
        if not self.quick:
            faults.append(("restart Kafka broker", self._restart_server("kafka")))
            faults.append(("restart database server", self._restart_server("mongo")))
        faults.append(("poison messages on every consumed topic", self._poison))
        return faults

    def _kill_and_restart(self, name: str) -> Callable[[], Awaitable[str]]:
        async def fault() -> str:
            assert self.platform is not None
            proc = self.platform.procs[name]
            proc.kill()
            await asyncio.sleep(2)
            proc.start(self.platform.env_for(name, self.env))
            await self._healthy(proc)
            return "restarted after 2 s"

        return fault

    def _kill_replica(self, name: str) -> Callable[[], Awaitable[str]]:
        async def fault() -> str:
            assert self.platform is not None
            self.platform.procs[name].kill()
            return "not restarted: the serve replica takes its partitions"

        return fault

    def _restart_server(self, which: str) -> Callable[[], Awaitable[str]]:
        async def fault() -> str:
            assert self.infra is not None
            started = time.monotonic()
            await asyncio.to_thread(self.infra.restart, which)
            return f"back in {time.monotonic() - started:.0f} s"

        return fault

    async def _poison(self) -> str:
        assert self.endpoints is not None
        producer = AIOKafkaProducer(**self._kafka(), acks="all")
        await producer.start()
        try:
            for topic in POISONED_TOPICS:
                for kind, value in (
                    ("malformed", b"{not json"),
                    ("unknown_type", json.dumps({"event_id": str(uuid.uuid4()), "event_type": "chaos.unknown.v1",
                                                 "case_id": str(uuid.uuid4())}).encode()),
                    ("wrong_type", json.dumps({"event_id": str(uuid.uuid4()), "event_type": "notification.sent.v1",
                                               "case_id": str(uuid.uuid4()), "occurred_at": "2026-01-01T00:00:00Z",
                                               "correlation_id": str(uuid.uuid4()), "notification_id": "x",
                                               "source_event_id": str(uuid.uuid4()), "recipient_kind": "applicant",
                                               "channel": "sms", "template_id": "x"}).encode()),
                ):
                    key = f"chaos-poison-{kind}-{uuid.uuid4().hex[:8]}"
                    self.poison_keys[key] = topic
                    await producer.send_and_wait(topic, value, key=key.encode())
        finally:
            await producer.stop()
        return f"{len(self.poison_keys)} messages on {len(POISONED_TOPICS)} topics"

    async def _healthy(self, proc: ServiceProcess, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{proc.url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------------------------------------ the run

    async def run(self) -> list[Row]:
        watcher = asyncio.create_task(self.watch())
        loader = asyncio.create_task(self.load())
        fault_at: dict[str, float] = {}
        try:
            await asyncio.sleep(self.phase_seconds)  # warm-up: the pipeline is flowing before the first fault
            for title, fault in self._faults():
                in_flight = sum(1 for c in self.submitted if c not in self.seen.assigned_at)
                self.echo(f"· {title} ({in_flight} cases in flight)")
                at = time.monotonic()
                note = await fault()
                fault_at[title] = at
                self.rows.append(Row(title, in_flight=in_flight, note=note))
                await asyncio.sleep(self.phase_seconds)
            self._stop_load.set()
            await loader
            await self._drain()
        finally:
            self._stop_load.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        await self._check(fault_at)
        return self.rows

    async def _drain(self, stall: float = 120, cap: float = 3600) -> None:
        """Wait until every acknowledged case is assigned and the gateway got each applicant's registration — for
        as long as the platform makes progress: a slow box drains a backlog slowly, and what is still missing when
        nothing moved for ``stall`` seconds is lost, not late (``cap``: the longest wait in all)."""
        start = last_move = time.monotonic()
        before: tuple[int, int] | None = None
        while (now := time.monotonic()) - last_move < stall and now - start < cap:
            unassigned = sum(1 for c in self.submitted if c not in self.seen.assigned_at)
            untexted = len(self._untexted())
            if not unassigned and not untexted:
                return
            if (unassigned, untexted) != before:
                if before is None or int(now - start) // 30 != int(last_move - start) // 30:
                    self.echo(f"  draining: {unassigned} not yet assigned, {untexted} not yet texted")
                before, last_move = (unassigned, untexted), now
            await asyncio.sleep(2)

    def _deliveries(self) -> list[dict[str, Any]]:
        try:
            return list(httpx.get(f"{self.gateway.url}/deliveries.json", timeout=10).json()["deliveries"])
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    def _untexted(self) -> set[str]:
        """Cases whose applicant has no text carrying the case's tracking code (the registration text, alone or
        in a digest) at the gateway."""
        texts: dict[str, str] = defaultdict(str)
        for d in self._deliveries():
            if d["channel"] == "sms":
                texts[d["to"]] += d["text"].replace("-", "")
        return {c for c, s in self.submitted.items()
                if s.tracking_code not in texts.get(f"{s.phone[:3]}****{s.phone[-4:]}", "")}

    async def _check(self, fault_at: dict[str, float]) -> None:
        unassigned = {c for c in self.submitted if c not in self.seen.assigned_at}
        twice = {c for c, ids in self.seen.assigned_ids.items() if len(ids) > 1 and c in self.submitted}
        sent_twice = {n for n, ids in self.seen.sent_ids.items() if len(ids) > 1}
        deliveries = self._deliveries()
        same_text = Counter((d["to"], d["text"]) for d in deliveries if d["channel"] == "sms")
        texted_twice = {k for k, n in same_text.items() if n > 1}
        untexted = self._untexted()
        starts = sorted(fault_at.items(), key=lambda kv: kv[1])
        for i, row in enumerate(self.rows):
            at = fault_at[row.fault]
            until = starts[i + 1][1] if i + 1 < len(starts) else float("inf")
            window = {c for c, s in self.submitted.items() if at - self.phase_seconds <= s.at < until}
            row.lost = len((unassigned | untexted) & window)
            row.duplicated = len(twice & window)
            after = [self.seen.assigned_at[c] - at for c, s in self.submitted.items()
                     if s.at >= at and c in self.seen.assigned_at]
            row.recovered_s = round(min(after), 1) if after else None
        # What belongs to no single fault: duplicates of deliveries, and the poison's fate.
        poison_row = next((r for r in self.rows if r.fault.startswith("poison")), None)
        if poison_row is not None:
            dead = {(h.get("yima-dlq-original-topic"), (k or b"").decode(errors="replace"))
                    for _, h, k in self.seen.dlq if h.get("yima-dlq-error")}
            missing = [k for k, t in self.poison_keys.items() if (t, k) not in dead]
            poison_row.lost += len(missing)
            poison_row.note += f"; {len(self.poison_keys) - len(missing)}/{len(self.poison_keys)} in dlq.* with reason"
        self.summary = {
            "acknowledged": len(self.submitted), "no_answer_while_down": self.refused,
            "not_acknowledged_by_status": dict(sorted(self.answered.items())),
            "unassigned": len(unassigned), "assigned_twice": len(twice),
            "deliveries": len(deliveries), "sent_events_twice": len(sent_twice),
            "same_text_twice_to_one_phone": len(texted_twice), "applicants_without_registration_text": len(untexted),
        }
        if sent_twice or texted_twice:
            self.rows.append(Row("(deliveries, all faults)", duplicated=len(sent_twice | texted_twice)))

    def table(self) -> str:
        head = f"{'fault':<48} {'in flight':>9} {'lost':>5} {'dup':>5} {'recovered in':>13}  note"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            rec = f"{r.recovered_s:.1f} s" if r.recovered_s is not None else "-"
            lines.append(f"{r.fault:<48} {r.in_flight:>9} {r.lost:>5} {r.duplicated:>5} {rec:>13}  {r.note}")
        return "\n".join(lines)

    def ok(self) -> bool:
        return all(r.lost == 0 and r.duplicated == 0 for r in self.rows) and bool(self.submitted)


def run_chaos(*, rate: float = 4.0, phase_seconds: float = 15.0, quick: bool = False, workdir: Path | None = None,
              echo: Callable[[str], None] = print) -> Chaos:
    """Start a private stack (its own Kafka, database, services and gateway on free ports), run the suite, stop
    everything; returns the suite with its rows and summary."""
    own = workdir is None
    wd = workdir or Path(tempfile.mkdtemp(prefix="yima-chaos-"))
    chaos = Chaos(rate=rate, phase_seconds=phase_seconds, quick=quick, workdir=wd, echo=echo)
    try:
        echo("· starting a private stack (Kafka, database, every service, two replicas of each consumer role) …")
        chaos.start_stack()
        random.seed(0)
        run_sync(chaos.run())
    finally:
        chaos.stop_stack()
        if own and os.environ.get("YIMA_CHAOS_KEEP") != "1":
            subprocess.run([sys.executable, "-c", f"import shutil; shutil.rmtree({str(wd)!r}, True)"], check=False)
    return chaos


@app.command("chaos")
def chaos_cmd(
    quick: Annotated[bool, typer.Option(help="a few faults only (what the test suite runs)")] = False,
    rate: Annotated[float, typer.Option(help="cases submitted per second during the run")] = 4.0,
    phase_seconds: Annotated[float, typer.Option(help="load between two faults, seconds")] = 15.0,
) -> None:
    """The fault suite: kill services and consumer replicas, restart Kafka and the database, poison every consumed
    topic under a steady load of cases; then check that nothing was lost or done twice and print the table."""
    chaos = run_chaos(rate=rate, phase_seconds=phase_seconds, quick=quick, echo=typer.echo)
    typer.echo("")
    typer.echo(chaos.table())
    typer.echo("")
    typer.echo("  ".join(f"{k}={v}" for k, v in chaos.summary.items()))
    if not chaos.ok():
        typer.echo("FAILED: something was lost or duplicated (see the table)", err=True)
        raise typer.Exit(1)
    typer.echo("0 lost, 0 duplicated in every row.")
