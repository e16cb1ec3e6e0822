"""Rebuild (``replay``) and recount (``check``) from the topics themselves.

Both read every topic insight consumes from its earliest offset up to the end offsets found at the start
(no consumer group: partitions are assigned by hand, so the live group is untouched while reading), apply
the events to the cases' facts in memory in the order of their ``occurred_at`` per case, and sum the
counters from the final facts. ``replay`` swaps that state in and moves the live group to the end offsets;
``check`` compares it with the stored counters and lists the differences.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from pydantic import ValidationError
from yima_contracts import Event, parse_event
from yima_contracts.registry import EVENTS_BY_TYPE
from yima_contracts.risk_events import WarningRaised
from yima_kit.kafka_auth import KafkaAuth, client_kwargs
from yima_kit.mongo import connect

from ..config import InsightSettings
from ..core.facts import CaseFact, Slice, change, units_in
from ..core.rollup import CounterKey, flat, tally
from ..core.warnings import Warning, from_event
from .kafka import WORK_ORDERS, consumed_topics
from .mongo_store import MongoInsightStore

_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"([^"\\]+)"')


def parse(value: bytes) -> Event:
    """An event from its message: its model found by the ``event_type`` the bytes name, validated from the JSON
    in one pass (~30 % less than ``parse_event``'s ``json.loads`` and then validating); anything else (another
    layout, a model that refuses it) goes the general way, ``parse_event``, which names the problem."""
    found = _EVENT_TYPE.search(value)
    model = EVENTS_BY_TYPE.get(found.group(1).decode()) if found else None
    if model is not None:
        try:
            return model.model_validate_json(value)
        except ValidationError:
            pass
    return parse_event(value)


async def read_events(bootstrap: str, auth: KafkaAuth | None = None
                      ) -> tuple[list[Event], dict[TopicPartition, int], int]:
    """Every event up to the end offsets of now; (events, end offsets, messages that did not parse). A read that
    came back with fewer messages than the offsets promise is read again (at most three times)."""
    result: tuple[list[Event], dict[TopicPartition, int], int] = ([], {}, 0)
    for _ in range(3):
        result, expected = await _read_once(bootstrap, auth)
        if len(result[0]) + result[2] >= expected:
            break
    return result


async def _read_once(bootstrap: str, auth: KafkaAuth | None
                     ) -> tuple[tuple[list[Event], dict[TopicPartition, int], int], int]:
    kw = client_kwargs(auth)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **kw)
    await consumer.start()
    events: list[Event] = []
    bad = 0
    try:
        # Topics and partitions from the consumer's own metadata, refreshed until every wanted topic shows its
        # partitions (a topic whose leader is moving answers without them for a moment).
        tps: list[TopicPartition] = []
        for _ in range(20):
            cluster = await consumer._client.fetch_all_metadata()
            all_topics = set(cluster.topics())
            wanted = [t for t in consumed_topics() if t in all_topics]
            wanted += sorted(t for t in all_topics if re.fullmatch(WORK_ORDERS, t))
            parts = {t: cluster.partitions_for_topic(t) for t in wanted}
            tps = [TopicPartition(t, p) for t, ps in parts.items() for p in sorted(ps or ())]
            if all(parts.values()):
                break
            await asyncio.sleep(0.5)
        if not tps:
            return ([], {}, 0), 0
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        expected = sum(ends[tp] - starts[tp] for tp in pending)
        await consumer.seek_to_beginning(*tps)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= ends[tp]:
                        continue
                    try:
                        events.append(parse(m.value))
                    except Exception:
                        bad += 1
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return (events, ends, bad), expected
    finally:
        await consumer.stop()


class Recount(NamedTuple):
    facts: dict[str, CaseFact]
    counters: dict[CounterKey, dict[str, int]]
    units: dict[str, dict[str, Any]]
    warnings: list[Warning]


def recount(events: list[Event]) -> Recount:
    """Facts, counters, units and warnings from events (pure)."""
    units: dict[str, dict[str, Any]] = {}
    for e in events:
        for u in units_in(e):
            cur = units.setdefault(u.code, {})
            if u.name:
                cur["name"] = u.name
            if u.path:
                cur["path"] = list(u.path)
    paths = {c: tuple(u["path"]) for c, u in units.items() if u.get("path")}
    by_case: dict[str, list[Event]] = defaultdict(list)
    seen: set[Any] = set()
    warnings: dict[str, Warning] = {}
    for e in events:
        if e.event_id in seen:  # a message published twice is one event
            continue
        seen.add(e.event_id)
        if isinstance(e, WarningRaised):
            warnings[e.warning_id] = from_event(e, paths)
        else:
            by_case[e.case_id].append(e)
    facts: dict[str, CaseFact] = {}
    counted: list[tuple[Slice, dict[str, int]]] = []
    for case_id, evs in by_case.items():
        evs.sort(key=lambda e: e.occurred_at)
        fact = facts[case_id] = CaseFact(case_id=case_id)
        for e in evs:
            change(fact, e, paths)
        s = fact.slice()
        if s is not None:
            counted.append((s, fact.vector()))
    return Recount(facts, tally(counted), units, list(warnings.values()))


async def replay(settings: InsightSettings, *, commit_offsets: bool = True) -> dict[str, Any]:
    t0 = time.monotonic()
    events, ends, bad = await read_events(settings.kafka_bootstrap, settings.kafka_auth)
    t_read = time.monotonic() - t0
    facts, counters, units, warnings = recount(events)
    t_recount = time.monotonic() - t0 - t_read
    client = connect(settings.mongo_url)
    try:
        store = MongoInsightStore(client[settings.db_name])
        written = await store.replace_all(list(facts.values()), counters, units, warnings)
    finally:
        await client.close()
    if commit_offsets and ends:
        c = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=f"yima-{settings.service_name}",
                             enable_auto_commit=False, **client_kwargs(settings.kafka_auth))
        await c.start()
        try:
            c.assign(list(ends))
            await c.commit({tp: OffsetAndMetadata(off, "") for tp, off in ends.items()})
        finally:
            await c.stop()
    return {"events": len(events), "unparsable": bad, "cases": len(facts), "counters": len(counters),
            "read_seconds": round(t_read, 1), "recount_seconds": round(t_recount, 1), "written": written,
            "total_seconds": round(time.monotonic() - t0, 1)}


async def check(settings: InsightSettings, *, limit: int = 50, scope: str | None = None) -> dict[str, Any]:
    """Recount from the topics and compare with the stored counters (of one scope's, if given)."""
    events, _, bad = await read_events(settings.kafka_bootstrap, settings.kafka_auth)
    counters = recount(events).counters
    if scope is not None:
        counters = {k: v for k, v in counters.items() if k.scope == scope}
    expected = flat(counters)
    client = connect(settings.mongo_url)
    try:
        stored = await MongoInsightStore(client[settings.db_name]).all_counters(scope)
    finally:
        await client.close()
    diffs = []
    for cid in sorted(set(expected) | set(stored)):
        e, s = expected.get(cid, {}), stored.get(cid, {})
        for m in sorted(set(e) | set(s)):
            if e.get(m, 0) != s.get(m, 0):
                diffs.append({"counter": cid, "measure": m, "expected": e.get(m, 0), "stored": s.get(m, 0)})
    return {"ok": not diffs, "events": len(events), "unparsable": bad, "counters": len(expected),
            "differences": len(diffs), "first": diffs[:limit]}
