"""A record of the queries a process sends, for the query-plan test (tests/e2e/test_query_plans.py; ADR 0060).

Off unless ``YIMA_MONGO_QUERY_LOG_DIR`` is set (tests only): then every client made by :func:`yima_kit.mongo.connect`
writes each distinct query shape it sends — database, collection, command, filter, sort, a find's hint — once, as
one JSON line (MongoDB extended JSON, so dates and ids keep their types) to ``<dir>/<pid>.jsonl``. The test explains
each recorded query against the same database and fails on a collection scan. Filters carry ids and blind indexes,
never decrypted personal data (what the services store is encrypted), and the directory is a test's temporary one.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from bson import json_util
from pymongo import monitoring

ENV = "YIMA_MONGO_QUERY_LOG_DIR"
# the commands whose filters pick documents (an update or a delete is explained as a find with its filter)
READS = ("find", "findAndModify", "count", "distinct", "aggregate", "update", "delete")


def _shape(value: Any) -> Any:
    """The structure of a filter without its values: two queries of the same shape use the same plan."""
    if isinstance(value, dict):
        return {k: _shape(v) if k.startswith("$") or isinstance(v, dict) else "?" for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return "?"


def queries_of(name: str, cmd: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(filter, sort) pairs a command runs."""
    if name == "find":
        return [(cmd.get("filter") or {}, cmd.get("sort"))]
    if name == "findAndModify":
        return [(cmd.get("query") or {}, cmd.get("sort"))]
    if name in ("count", "distinct"):
        return [(cmd.get("query") or {}, None)]
    if name == "update":
        return [(u.get("q") or {}, None) for u in cmd.get("updates", [])]
    if name == "delete":
        return [(d.get("q") or {}, None) for d in cmd.get("deletes", [])]
    if name == "aggregate":
        pipeline = cmd.get("pipeline") or []
        first = pipeline[0] if pipeline else {}
        return [(first.get("$match", {}) if "$match" in first else {"$aggregate_without_match": True}, None)]
    return []


class QueryLog(monitoring.CommandListener):
    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / f"{os.getpid()}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in READS:
            return
        cmd = dict(event.command)
        collection = cmd.get(name)
        if not isinstance(collection, str):
            return
        for filt, sort in queries_of(name, cmd):
            key = json.dumps([event.database_name, collection, name, _shape(filt), list((sort or {}).keys())],
                             sort_keys=True)
            with self.lock:
                if key in self.seen:
                    continue
                self.seen.add(key)
                line = json_util.dumps({"db": event.database_name, "collection": collection, "command": name,
                                        "filter": filt, "sort": sort or None,
                                        "hint": cmd.get("hint") if name == "find" else None})
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def listeners() -> list[monitoring.CommandListener]:
    directory = os.environ.get(ENV)
    return [QueryLog(directory)] if directory else []
