"""The replay's first phase alone (ADR 0217): every topic insight consumes read into slice files, as
``rebuild.replay`` reads them (its pool of ``--workers`` processes started first, as the replay starts it), from a
running Kafka that already holds the events (e.g. after ``insight_replay_full.py --produce-only``). Nothing is
written to Kafka or to a database; the slice files go to a temporary directory, deleted at the end.

    set -a; . <env with YIMA_KAFKA_BOOTSTRAP and the YIMA_KAFKA_SASL_… credentials>; set +a
    uv run python bench/insight_replay_read.py [--workers 2] [--events-per-slice 200000]

Prints seconds (pool start included), the setup (partitions and offsets found, readers started), messages read
against those expected, slices, bytes written and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from yima_insight.adapters import rebuild
from yima_kit.kafka_auth import KafkaAuth


def _size(tmp: Path) -> int:
    return sum(f.stat().st_size for f in tmp.iterdir())


async def main(workers: int, events_per_slice: int) -> None:
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="yima-replay-read-"))
    t0 = time.monotonic()
    pool = rebuild._pool(workers)
    try:
        sp = await rebuild.spill(os.environ["YIMA_KAFKA_BOOTSTRAP"], KafkaAuth.from_env(), tmp,
                                 events_per_slice=events_per_slice, pool=pool, readers=rebuild._readers(workers))
        seconds = time.monotonic() - t0
        written = _size(tmp)
    finally:
        if pool is not None:
            pool.shutdown()
        shutil.rmtree(tmp)
    print(json.dumps({"workers": workers, "seconds": round(seconds, 1), "setup_seconds": round(sp.setup_seconds, 2),
                      "read": sp.read, "expected": sp.expected, "slices": sp.slices, "partitions": len(sp.ends),
                      "bytes": written, "loadavg_before": [round(x, 2) for x in load],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=rebuild.WORKERS)
    ap.add_argument("--events-per-slice", type=int, default=rebuild.DEFAULT_EVENTS_PER_SLICE)
    args = ap.parse_args()
    asyncio.run(main(args.workers, args.events_per_slice))
