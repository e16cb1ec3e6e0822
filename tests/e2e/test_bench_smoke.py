"""`./yima bench` at a tiny load against the e2e platform: every figure of issue 12 is in its JSON.

Figures, not timings: nothing here asserts a speed, only that the instrument measures what it claims to.
"""

from __future__ import annotations

import json

import pytest
from yima_devstack._aio import run_sync
from yima_devstack.bench import Target, measure, report
from yima_devstack.bench.run import Options
from yima_devstack.infra import Endpoints

# Room for a loaded machine: the first e2e test of a session also pays for starting the platform.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

TINY = Options(warmup=2, unloaded=2, rate=2, rate_duration=2, concurrency=2, duration=2, idle_seconds=1,
               baseline_seconds=0.3, drain_timeout=40, quiet_seconds=3, addresses=4)


def test_bench_measures_every_figure(platform, yima_infra, tmp_path):
    target = Target(Endpoints(yima_infra.kafka_bootstrap, yima_infra.mongo_url), platform.procs["intake"].url,
                    platform.db_prefix, None, False,
                    {n: (p.pid, True) for n, p in platform.procs.items() if p.pid is not None})
    result = run_sync(measure(target, TINY))

    for t in result["targets"]:
        assert t["value"] is not None, t["label"]
        assert t["met"] in (True, False)
    for name in ("unloaded", "rate", "concurrent"):
        phase = result["phases"][name]
        assert phase["accepted"] == phase["submitted"] > 0, phase["http_status"]  # no 429: many addresses
        assert phase["assigned"] == phase["accepted"] and phase["drained"], name
        assert phase["db_ops_per_case"] > 0 and phase["kafka_messages_per_case"] >= 3  # submitted, assessed, assigned…
        assert phase["notifications"] > 0
        # every process's CPU per case (ADR 0199): the services given, and the bench itself
        assert {"intake", "notify", "bench"} <= set(phase["cpu_ms_per_case_by_process"]), name
        assert phase["cpu_ms_per_case_all_processes"] is not None and phase["cpu_core_pct_by_process"]["intake"] >= 0
    assert set(result["baselines"]) == {"two_write_tx_per_s", "bulk_insert_docs_per_s", "find_by_id_per_s",
                                        "kafka_produce_per_s", "kafka_produce_pipelined_per_s"}
    assert all(v > 0 for v in result["baselines"].values())
    assert result["ratios"]["raw_tx_per_case"] is not None
    assert result["idle"]["before"]["db_ops_per_s"] >= 0 and "after" in result["idle"]
    assert "bench" in result["idle"]["before"]["cpu_core_pct_by_process"]

    path = report.write(result, tmp_path)
    again = json.loads(path.read_text())
    assert again["targets"] == result["targets"]
    assert "NOT MET" in report.render(again) or "met" in report.render(again)
    assert "CPU per case by process" in report.render(again)
    assert "→" in report.compare(again, again)
