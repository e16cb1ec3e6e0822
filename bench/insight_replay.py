"""The insight bench's events and its replay phase (bench/bench_insight.py): each case's lifecycle produced to the
topics as the platform's relays do, and ``replay``'s time with its extrapolation to 1,000,000 cases."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from insight_history import tree
from pymongo import AsyncMongoClient
from yima_contracts.codes import Category, Channel
from yima_devstack.infra import Endpoints

# counter documents of the 1 M history (bench/results/20261207T045939-insight-999999.json, ADR 0175's layout)
COUNTER_DOCUMENTS_1M = 609_090
COUNTER_BYTES_1M = 1_490_796_676  # their BSON size (bench/results/20261207T080857-insight-999999.json)
# packed (ADR 0206): ×0.335, the layouts measured side by side (insight_counter_layout_cost.py)
COUNTER_BYTES_1M_PACKED = 498_674_590


def lifecycle(case_id: str, at: datetime, unit_path: tuple[str, ...]) -> list[Any]:
    from yima_contracts import (
        CaseAssigned,
        CaseClosed,
        CaseFeedback,
        CaseRated,
        CaseRiskAssessed,
        CaseSubmitted,
        Party,
        UnitCaseAssigned,
    )
    from yima_contracts.codes import FeedbackKind, Outcome, RiskLevel
    from yima_contracts.events import Location

    c = {"case_id": case_id, "correlation_id": case_id}
    unit = unit_path[-1]
    sup = unit_path[-2]
    common = {"assignment_id": f"a-{case_id}", "unit_code": unit, "supervisor_unit_code": sup,
              "supervisor_unit_name": "街道", "category": Category.NEIGHBOUR, "risk_level": RiskLevel.BLUE,
              "due_at": at + timedelta(days=10)}
    h = timedelta(hours=1)
    return [
        CaseSubmitted(**c, occurred_at=at, case_number=f"B-{case_id[-8:]}", tracking_code="ABCD-EFGH-JKLM",
                      channel=Channel.GRID, category=Category.NEIGHBOUR, category_source="applicant",
                      description="邻里纠纷", applicant=Party(name="张三", phone="13812345678"),
                      location=Location(unit_code=unit), submitted_at=at),
        CaseRiskAssessed(**c, occurred_at=at + h, level=RiskLevel.BLUE, score=1, ruleset_version="b", reason_zh="r"),
        CaseAssigned(**c, occurred_at=at + h, **common, unit_name="社区", rule_id="r", reason_zh="属地"),
        UnitCaseAssigned(**c, occurred_at=at + h, **common, unit_name="社区", unit_path=list(unit_path),
                         case_number=f"B-{case_id[-8:]}", channel=Channel.GRID, description="邻里纠纷",
                         applicant=Party(name="张三", phone="13812345678"), location=Location(unit_code=unit)),
        CaseFeedback(**c, occurred_at=at + 2 * h, assignment_id=f"a-{case_id}", unit_code=unit,
                     kind=FeedbackKind.ACCEPTED),
        CaseClosed(**c, occurred_at=at + 3 * h, outcome=Outcome.AGREEMENT, unit_code=unit, resolved=True,
                   applicant_message_zh="已办结"),
        CaseRated(**c, occurred_at=at + 4 * h, score=5, rated_at=at + 4 * h),
    ]


def lifecycles(n_events: int, prefix: str, at: datetime, paths: Sequence[tuple[str, ...]]) -> list[Any]:
    events: list[Any] = []
    i = 0
    while len(events) < n_events:
        events += lifecycle(f"{prefix}-{uuid.uuid4().hex[:10]}", at, paths[i % len(paths)])
        i += 1
    return events[:n_events]


async def produce(ep: Endpoints, events: list[Any]) -> None:
    """Each event to its topic (a work order to its unit's), keyed by case id, as the platform's relays do."""
    from aiokafka import AIOKafkaProducer
    from yima_contracts import topics
    from yima_contracts.registry import TOPIC_EVENTS
    from yima_kit.kafka_admin import ensure_topics
    from yima_kit.kafka_auth import client_kwargs

    by_type = {m.EVENT_TYPE: t for t, ms in TOPIC_EVENTS.items() for m in ms}
    units = sorted({e.unit_code for e in events if by_type[e.event_type].startswith("unit.")})
    await ensure_topics(ep.kafka_bootstrap, [topics.unit_topic(u) for u in units])
    p = AIOKafkaProducer(bootstrap_servers=ep.kafka_bootstrap, linger_ms=20, **client_kwargs())
    await p.start()
    try:
        pending: list[Any] = []
        for e in events:
            t = by_type[e.event_type]
            topic = topics.unit_topic(e.unit_code) if t.startswith("unit.") else t
            pending.append(await p.send(topic, e.model_dump_json().encode(), key=e.case_id.encode()))
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await p.stop()


def _proc_status_kb(field: str) -> int | None:
    """A field of /proc/self/status in kB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


async def replay_time(ep: Endpoints, prefix: str, n_cases: int, events_per_slice: int, workers: int
                      ) -> dict[str, Any]:
    from yima_insight.adapters import rebuild
    from yima_insight.config import InsightSettings

    paths = [p for p in tree() if len(p) == 3][:6]
    events: list[Any] = []
    at = datetime.now(UTC) - timedelta(days=2)
    for i in range(n_cases):  # spread over a year, so the counters are not one day's few documents
        events += lifecycle(f"rp-{uuid.uuid4().hex[:10]}", at - timedelta(days=i % 365), paths[i % len(paths)])
    await produce(ep, events)
    produced = len(events)
    del events
    gc.collect()
    settings = InsightSettings(kafka_bootstrap=ep.kafka_bootstrap, mongo_url=ep.mongo_url,
                               mongo_db_prefix=prefix + "replay_")
    # the replay's own peak: the process's peak RSS reset (Linux: clear_refs 5) just before it
    _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    result = await rebuild.replay(settings, commit_offsets=False, events_per_slice=events_per_slice,
                                  workers=workers)
    peak = _proc_status_kb("VmHWM")
    result["produced_events"] = produced
    client: AsyncMongoClient[Any] = AsyncMongoClient(ep.mongo_url)
    try:  # the counter documents' bytes: at 1 M each holds more keys (ADR 0205 extrapolates by bytes too)
        st = await client[settings.db_name].command("collStats", "counters")
        result["counter_bytes"] = int(st.get("size") or 0)
        one = await client[settings.db_name]["counters"].find_one({}, {"m": 1})
        result["counter_layout"] = "packed" if one and "m" in one else "nested"  # ADR 0206 / before
    except Exception:  # a server that does not say
        result["counter_bytes"] = None
    finally:
        await client.close()
    result["memory"] = {"rss_before_mb": round((rss_before or 0) / 1024), "peak_rss_mb": round((peak or 0) / 1024),
                        "peak_growth_mb": round(((peak or 0) - (rss_before or 0)) / 1024),
                        "events_per_slice": events_per_slice, "workers": workers}
    return result


async def print_replay(ep: Endpoints, prefix: str, n_cases: int, counters_1m: int | None = None, *,
                       events_per_slice: int = 200_000, workers: int = 2) -> dict[str, Any]:
    """The replay's time and its extrapolation to 1 M cases (ADR 0195): the fixed part (consumers started, the
    partitions' offsets found: seconds whatever the topics hold) once; the counters' own seconds (their phase
    less the facts' rename and index build that ran beside them on the same server, which count per case, plus
    the counters' own rename and index build) at this run's rate for the 1 M history's counter documents (they
    grow with days × units × categories, not with cases); everything else per case."""
    r = await replay_time(ep, prefix, n_cases, events_per_slice, workers)
    cases = max(1, r["cases"])
    ph, w = r["phases"], r["written"]
    counter_docs = counters_1m or COUNTER_DOCUMENTS_1M
    fixed = ph["read_setup"]
    # the facts' rename and index build ran beside the counters on the same (serial) server: per case
    facts_beside = min(ph["counters"], (w["swap"].get("facts") or 0) + (w["indexes"].get("facts") or 0))
    # the counter documents' own seconds: written, renamed in and indexed (they scale with the documents)
    counters_own = (ph["counters"] - facts_beside + (w["swap"].get("counters") or 0)
                    + (w["indexes"].get("counters") or 0))
    per_case = (r["total_seconds"] - fixed - counters_own) / cases
    counters_1m_s = counters_own * counter_docs / max(1, w["counters"]["documents"])
    minutes = (per_case * 1_000_000 + fixed + counters_1m_s) / 60
    # the same by the counter documents' bytes (a 1 M history's documents are bigger: more keys a period)
    bytes_1m = COUNTER_BYTES_1M_PACKED if r.get("counter_layout") == "packed" else COUNTER_BYTES_1M
    by_bytes = counters_own * bytes_1m / r["counter_bytes"] if r.get("counter_bytes") else None
    minutes_by_bytes = (per_case * 1_000_000 + fixed + by_bytes) / 60 if by_bytes else None
    print(f"replay    {r['produced_events']} events of {n_cases} new cases (the topics hold {r['events']} events, "
          f"{r['cases']} cases) in {r['total_seconds']} s with {r['workers']} workers: read {ph['read']:.1f} s "
          f"(of which {fixed:.1f} s finding the partitions' offsets) into {r['slices']} slices; parse, fold and "
          f"facts {ph['fold']:.1f} s (summed over the slices: parse {r['slice_seconds_summed']['parse']} s, fold "
          f"{r['slice_seconds_summed']['fold']} s, facts {r['slice_seconds_summed']['facts']} s); "
          f"{w['counters']['documents']} counter documents, with the facts swapped in and indexed beside them, "
          f"{ph['counters']:.1f} s (facts: rename {w['swap'].get('facts')} s, indexes {w['indexes'].get('facts')} s); "
          f"the rest swapped in {ph['swap_and_indexes']:.1f} s; peak RSS {r['memory']['peak_rss_mb']} MB "
          f"(+{r['memory']['peak_growth_mb']} MB, this process only); 1,000,000 cases ≈ {minutes:.1f} min "
          f"({per_case * 1000:.2f} ms a case, {fixed:.1f} s once, {counter_docs:,} counter documents "
          f"{counters_1m_s:.0f} s; by their bytes {by_bytes or 0:.0f} s: {minutes_by_bytes or 0:.1f} min; "
          f"all of it per case: {r['total_seconds'] / cases * 1e6 / 60:.0f} min; "
          f"target ≤ 10 min)")
    return {**r, "counter_documents_1m": round(counter_docs), "minutes_for_1m": round(minutes, 1),
            "minutes_for_1m_counters_by_bytes": round(minutes_by_bytes, 1) if minutes_by_bytes else None,
            "extrapolation": {"per_case_ms": round(per_case * 1000, 3), "fixed_s": round(fixed, 1),
                              "counters_own_s": round(counters_own, 2),
                              "counters_1m_s": round(counters_1m_s),
                              "counters_1m_s_by_bytes": round(by_bytes) if by_bytes else None,
                              "counter_bytes_1m": bytes_1m},
            "minutes_for_1m_all_per_case": round(r["total_seconds"] / cases * 1e6 / 60, 1)}
