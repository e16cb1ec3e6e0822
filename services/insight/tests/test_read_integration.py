"""The replay's read of the topics in the pool's worker processes (ADR 0217): every message read exactly once, into
the slice its case falls in, and folded to what a read in this process gives."""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from insight_events import COMMUNITY, COMMUNITY2, STREET, T0, assessed, closed, new_id, rated, submitted, work_order
from yima_contracts import Event, UnitCaseAssigned, topics
from yima_contracts.codes import RiskLevel
from yima_contracts.registry import TOPIC_EVENTS
from yima_insight.adapters import reading, rebuild
from yima_insight.adapters.kafka import WORK_ORDERS, consumed_topics
from yima_insight.adapters.slices import slice_of
from yima_kit.kafka_admin import ensure_topics
from yima_kit.kafka_auth import client_kwargs

pytestmark = pytest.mark.integration

BY_TYPE = {m.EVENT_TYPE: t for t, ms in TOPIC_EVENTS.items() for m in ms}


# The test's own copies of the topics the replay reads: the platform's topics are shared with the end-to-end tests,
# whose services would take these events (of cases they never saw) as theirs, and other tests' services may write
# to them while the three reads below run.
PREFIX = f"rdtest{uuid.uuid4().hex[:8]}."


def _topic(e: Event) -> str:
    return PREFIX + (topics.unit_topic(e.unit_code) if isinstance(e, UnitCaseAssigned) else BY_TYPE[e.event_type])


def _story() -> list[tuple[str, bytes, bytes]]:
    rng = random.Random(11)
    events: list[Event] = []
    for _ in range(40):
        cid, at = f"rd-{new_id()}", T0 + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
        unit = rng.choice([COMMUNITY, COMMUNITY2, STREET])
        events += [submitted(cid, at=at), assessed(cid, rng.choice(list(RiskLevel)), at + timedelta(minutes=1)),
                   work_order(cid, unit, at + timedelta(minutes=2))]
        if rng.random() < 0.6:
            events += [closed(cid, unit, rng.random() < 0.7, at + timedelta(days=2)),
                       rated(cid, rng.randint(1, 5), at + timedelta(days=3))]
    sent = [(_topic(e), e.model_dump_json().encode(), e.case_id.encode()) for e in events]
    return sent + rng.sample(sent, 6)  # published twice


def _all(sp: rebuild.Spilled) -> list[tuple[int, int, bytes]]:
    return [(i, seq, v) for i in range(sp.slices) for seq, v in sp.records(i)]


async def test_workers_read_every_message_once_and_fold_as_one_process(yima_infra, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the partitions are planned in this process: the readers in the workers get them from here
    monkeypatch.setattr(reading, "consumed_topics", lambda: tuple(PREFIX + t for t in consumed_topics()))
    monkeypatch.setattr(reading, "WORK_ORDERS", re.escape(PREFIX) + WORK_ORDERS)
    bootstrap = yima_infra.kafka_bootstrap
    sent = _story()
    await ensure_topics(bootstrap, {t for t, _, _ in sent})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **client_kwargs())
    await producer.start()
    try:
        for t, v, k in sent:
            await producer.send(t, v, key=k)
        await producer.flush()
    finally:
        await producer.stop()

    async def read(name: str, **kw: Any) -> rebuild.Spilled:
        (tmp_path / name).mkdir()
        return await rebuild.spill(bootstrap, None, tmp_path / name, events_per_slice=50, **kw)

    single, here = await read("single", readers=1), await read("here")  # this process: one consumer, two
    pool = rebuild._pool(2)
    assert pool is not None
    try:
        two = await read("two", pool=pool, readers=2)
        two_totals, two_stats = await rebuild._fold_all(two, pool, None)
    finally:
        pool.shutdown()
    assert two.read == two.expected == here.read == single.read == len(sent) and two.slices > 2
    assert all(len(f) == 2 for f in two.files)  # a slice: its file from each reader
    got = _all(two)
    assert sorted(seq for _, seq, _ in got) == list(range(two.read))  # read positions unique over the readers
    assert all(slice_of(v, two.slices) == i for i, _, v in got)
    seqs = [[seq for i, seq, _ in got if i == s] for s in range(two.slices)]
    assert all(s == sorted(s) for s in seqs)  # a slice's files merged in the order read
    counted = Counter(v for _, _, v in got)
    assert all(counted[v] == n for v, n in Counter(v for _, v, _ in sent).items())  # ours: each as often as sent
    in_slices = Counter((i, v) for i, _, v in got)
    assert in_slices == Counter((i, v) for i, _, v in _all(here)) == Counter((i, v) for i, _, v in _all(single))
    assert two.paths == here.paths == single.paths and two.ends == single.ends

    for sp in (here, single):
        totals, stats = await rebuild._fold_all(sp, None, None)
        assert totals.counters == two_totals.counters and totals.cases == two_totals.cases
        assert stats["events"] == two_stats["events"] == two.read
        assert {c: n for c, (_, n) in totals.names.items()} == {c: n for c, (_, n) in two_totals.names.items()}
        assert {k: w for k, (_, w) in totals.warnings.items()} == {k: w for k, (_, w) in two_totals.warnings.items()}
