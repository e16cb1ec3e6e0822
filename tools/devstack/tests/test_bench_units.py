"""The benchmark's pure parts: history clones, percentiles, targets and the comparison (no servers)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from yima_devstack.bench import report
from yima_devstack.bench.history import Template, clone_docs
from yima_devstack.bench.load import Submitter, check_local, percentile


def test_a_clone_has_fresh_identifiers_consistent_across_documents_and_older_dates():
    case_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    t = Template(case_id, "JSQ-2026-000007", "ABCDEFGHJKMN")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    t.docs = [
        ("yima_intake", "cases", {"_id": case_id, "case_number": "JSQ-2026-000007", "submitted_at": at,
                                  "tracking_hash": "ab" * 32, "location": {"unit_code": "410105001001"}}),
        ("yima_notify", "processed_events", {"_id": f"applicant_steps|{event_id}", "case_id": case_id, "at": at}),
        ("yima_routing", "outbox", {"_id": ObjectId(), "key": case_id, "payload": f'{{"case_id":"{case_id}"}}',
                                    "published_at": at}),
    ]
    now = datetime(2026, 12, 2, tzinfo=UTC)
    a = clone_docs(t, 1, random.Random(1), now)
    b = clone_docs(t, 2, random.Random(2), now)
    case_a = a[0][2]
    assert case_a["_id"] != case_id and a[1][2]["case_id"] == case_a["_id"]  # one new id everywhere
    assert case_a["case_number"].startswith("JSQ-") and case_a["case_number"] != "JSQ-2026-000007"
    assert case_a["tracking_hash"] != "ab" * 32 and len(case_a["tracking_hash"]) == 64
    assert case_a["location"]["unit_code"] == "410105001001"  # what the case is about stays
    assert case_a["submitted_at"] < at
    assert event_id not in a[1][2]["_id"] and a[1][2]["_id"].startswith("applicant_steps|")
    assert case_a["_id"] != b[0][2]["_id"] and case_a["case_number"] != b[0][2]["case_number"]
    assert len(a) == 3  # no expiry known: everything cloned
    ttl = {("yima_notify", "processed_events"): [("at", 90 * 86_400.0)]}  # the ledger's 90-day TTL index
    clones = [clone_docs(t, seq, random.Random(seq), now, ttl) for seq in range(60)]
    for c in clones:  # a ledger entry is kept only while its TTL index would keep it
        shift = at - c[0][2]["submitted_at"]
        has_entry = any(coll == "processed_events" for _, coll, _ in c)
        assert has_entry == (now - (at - shift) <= timedelta(days=90))
        assert any(coll == "outbox" for _, coll, _ in c)  # no TTL index there: kept
    assert any(any(coll == "processed_events" for _, coll, _ in c) for c in clones)
    assert not all(any(coll == "processed_events" for _, coll, _ in c) for c in clones)


def test_percentile_and_local_only():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    check_local("http://127.0.0.1:8000")
    try:
        check_local("http://example.org")
    except ValueError as exc:
        assert "127.0.0.x" in str(exc)
    else:
        raise AssertionError("traffic to another host must be refused")


def test_targets_and_comparison_flag_what_got_worse():
    result = {"phases": {"concurrent": {"db_ops_per_case": 20.0, "cases_per_s_end_to_end": 25.0,
                                        "http_p99_ms": 400.0}},
              "idle": {"before": {"db_cpu_core_pct": None}}}
    marks = {t["key"]: t["met"] for t in report.evaluate(result)}
    assert marks["db_ops_per_case"] is True and marks["cases_per_s"] is True
    assert marks["http_p99_ms_16"] is False and marks["idle_db_cpu_pct"] is None
    worse = {"phases": {"concurrent": {"db_ops_per_case": 30.0, "cases_per_s_end_to_end": 19.0,
                                       "http_p99_ms": 410.0}}}
    text = report.compare(worse, result)
    lines = {line.split("  ")[1].strip(): line for line in text.splitlines()[1:]}
    assert "worse" in lines["database operations per case (16 concurrent)"]  # +50 %
    assert "worse" in lines["cases/s end to end (16 concurrent; the target is for 10 minutes)"]  # −24 %
    assert "worse" not in lines["HTTP submit p99, 16 concurrent submitters"]  # +2.5 %


async def _serve(handle) -> tuple[asyncio.Server, int]:
    """A one-route HTTP server on a free loopback port (``handle(reader, writer)`` answers each connection)."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _reply(writer: asyncio.StreamWriter, status: bytes, content_type: bytes, body: bytes) -> None:
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type + b"\r\nConnection: close\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    writer.close()


async def test_submissions_come_from_distinct_loopback_addresses():
    """intake limits submissions per peer address (request.client.host): the bench spreads them over many."""
    peers: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        body = json.dumps({"case_id": str(uuid.uuid4()), "tracking_code": "ABCD-EFGH-JKMN"}).encode()
        await _reply(writer, b"201 Created", b"application/json", body)

    server, port = await _serve(answer)
    sub = Submitter(f"http://127.0.0.1:{port}", addresses=5)
    await sub.start()
    try:
        results = [await sub.submit("t") for _ in range(10)]
    finally:
        await sub.close()
        server.close()
    assert all(r.status == 201 and r.case_id and r.tracking_code == "ABCDEFGHJKMN" for r in results)
    assert sorted(set(peers)) == [f"127.0.0.{i}" for i in range(2, 7)]


def test_notification_lag_past_the_policys_hold_counts_from_when_the_text_was_allowed_to_go():
    """A text held by the digest window goes when the window ends: its lag from the step is the window, its lag past
    the hold (``held_until``) is how late notify was after that; a text not held counts from its step."""
    from yima_devstack.bench.load import Watcher

    w = Watcher("127.0.0.1:9")
    t0 = 1_000_000.0

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat()

    async def feed() -> None:
        await w._on("case.status", t0, {"case_id": "c1", "event_id": "s1", "occurred_at": iso(t0), "state": "x"})
        await w._on("case.status", t0 + 5, {"case_id": "c1", "event_id": "s2", "occurred_at": iso(t0 + 5),
                                             "state": "y"})
        await w._on("notification.sent", t0 + 1.5, {"case_id": "c1", "source_event_id": "s1"})
        await w._on("notification.sent", t0 + 123, {"case_id": "c1", "source_event_id": "s2",
                                                    "held_until": iso(t0 + 121.5)})

    asyncio.run(feed())
    assert sorted(round(lag, 1) for _, lag in w.notification_lags({"c1"})) == [1.5, 118.0]
    assert sorted(round(lag, 1) for _, lag in w.notification_lags({"c1"}, past_hold=True)) == [1.5, 1.5]
    assert w.notification_lags({"other"}) == []


async def test_a_database_that_never_answers_ends_the_probe_with_a_clear_error(monkeypatch):
    """After a long phase the bench once waited for minutes for the counters: every read of them is bounded."""
    from yima_devstack.bench import probe

    held: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts, reads nothing, answers nothing

    server, port = await _serve(mute)
    monkeypatch.setattr(probe, "ANSWER_WITHIN_S", 0.3)
    db = probe.DbProbe(f"mongodb://127.0.0.1:{port}/?directConnection=true")
    t0 = asyncio.get_running_loop().time()
    try:
        with pytest.raises(RuntimeError, match="did not answer serverStatus in 3 tries"):
            await db.sample()
    finally:
        await db.close()
        for w in held:
            w.close()
        server.close()
    assert asyncio.get_running_loop().time() - t0 < 10


async def test_the_work_waiting_at_the_end_of_a_load_is_read_from_each_services_metrics():
    """The bench asks every service's /metrics where work waits: its consumer groups' lag and its unsent outbox."""
    from yima_devstack.bench.probe import backlogs

    text = (b'# TYPE yima_consumer_lag gauge\n'
            b'yima_consumer_lag{group="yima-notify",service="notify",topic="case.status"} 120.0\n'
            b'yima_consumer_lag{group="yima-notify",service="notify",topic="case.submitted"} 30.0\n'
            b'yima_consumer_lag{group="yima-notify.unit_assignments",service="notify",topic="case.assigned"} 7.0\n'
            b'# TYPE yima_outbox_backlog gauge\nyima_outbox_backlog{service="notify"} 42.0\n')

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await _reply(writer, b"200 OK", b"text/plain", text)

    server, port = await _serve(answer)
    try:
        got = await backlogs({"notify": f"http://127.0.0.1:{port}", "gone": "http://127.0.0.1:9"})
    finally:
        server.close()
    assert got == {"notify": {"lag yima-notify": 150, "lag yima-notify.unit_assignments": 7, "outbox": 42}}


class _Probe:
    """serverStatus and the server's CPU as a bulk load's aftermath shows them: one share of a core a window."""

    def __init__(self, shares: list[float]) -> None:
        self.shares, self.calls, self.cpu = shares, 0, 0.0

    @property
    def windows(self) -> int:
        return self.calls // 2

    async def sample(self) -> Any:
        from yima_devstack.bench.probe import DbSample
        if self.calls % 2:  # the end of a window: the share of that window, over one second
            self.cpu += self.shares[min(self.calls // 2, len(self.shares) - 1)]
        self.calls += 1
        return DbSample(at=float(self.calls), ops={}, cpu_s=self.cpu)


async def test_after_a_load_the_bench_waits_until_the_server_is_quiet_not_merely_steady() -> None:
    from yima_devstack.bench.run import settle
    logs: list[str] = []
    probe = _Probe([0.5, 0.5, 0.5, 0.04, 0.9])  # writing back at a steady half core, then quiet
    await settle(probe, logs.append, window=0.001, most=60)  # type: ignore[arg-type]
    assert probe.windows == 4 and "settled" in logs[-1]
    busy = _Probe([0.5])  # never quiet: gives up after ``most`` and says so
    await settle(busy, logs.append, window=0.001, most=0.05)  # type: ignore[arg-type]
    assert busy.windows > 1 and "still at 50 % of a core" in logs[-1]
