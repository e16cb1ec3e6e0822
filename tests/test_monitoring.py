"""deploy/monitoring agrees with the code: every metric an alert rule or a dashboard panel reads is one the services
really register (found by importing the modules that define ``yima_*`` metrics and asking the Prometheus registry),
with the labels the expression filters on; every alert says how bad it is and what it means."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy" / "monitoring"
SOURCES = [ROOT / "libs" / "kit" / "src", *sorted((ROOT / "services").glob("*/src"))]
DEFINITION = re.compile(r"""\b(?:Counter|Gauge|Histogram|Summary)\(\s*["'](yima_\w+)["']""")
METRIC_REF = re.compile(r"\b(yima_[a-z0-9_]+)(\{[^}]*\})?")
MATCHER_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def _modules_defining_metrics() -> list[str]:
    modules = []
    for src in SOURCES:
        for path in src.rglob("*.py"):
            if DEFINITION.search(path.read_text(encoding="utf-8")):
                modules.append(".".join(path.relative_to(src).with_suffix("").parts))
    return modules


@pytest.fixture(scope="module")
def registered() -> dict[str, Any]:
    modules = _modules_defining_metrics()
    assert modules, "no module defines a yima_* metric: the scan is broken"
    for name in modules:
        importlib.import_module(name)
    return {n: c for n, c in REGISTRY._names_to_collectors.items() if n.startswith("yima_")}


def _expressions() -> list[tuple[str, str]]:
    exprs = []
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    for group in rules["groups"]:
        exprs += [(f"alert {r['alert']}", str(r["expr"])) for r in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        exprs += [(f"panel {panel['title']!r}", t["expr"]) for t in panel.get("targets", [])]
    return exprs


def test_alerts_are_complete() -> None:
    rules = [r for g in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"] for r in g["rules"]]
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "two alerts share a name"
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"], r["alert"]
    # What the operators asked for (issue 18): each of these is watched by some alert.
    watched = " ".join(str(r["expr"]) for r in rules)
    for metric in ("yima_outbox_backlog", "yima_outbox_oldest_unsent_seconds", "yima_consumer_lag",
                   "yima_events_dead_lettered_total", "yima_notify_deliveries_total",
                   "yima_routing_supervision_due_backlog"):
        assert metric in watched, f"no alert watches {metric}"


def test_every_metric_read_is_registered_with_those_labels(registered: dict[str, Any]) -> None:
    exprs = _expressions()
    assert exprs
    for where, expr in exprs:
        refs = METRIC_REF.findall(expr)
        assert refs, f"{where} reads no yima metric: {expr}"
        for name, matchers in refs:
            assert name in registered, f"{where} reads {name}, which no module registers"
            collector = registered[name]
            labels = set(getattr(collector, "_labelnames", ()))
            for label in MATCHER_LABEL.findall(matchers or ""):
                if label != "le":
                    assert label in labels, f"{where}: {name} has no label {label!r} (it has {sorted(labels)})"
        for by in re.findall(r"by\s*\(([^)]*)\)", expr):
            asked = {x.strip() for x in by.split(",") if x.strip()} - {"le"}
            have = set().union(*(set(getattr(registered[n], "_labelnames", ())) for n, _ in refs))
            assert asked <= have, f"{where}: grouped by {sorted(asked - have)}, which its metrics lack"


def test_dashboard_is_valid_grafana_json() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["type"] == "prometheus" for p in dashboard["panels"])
