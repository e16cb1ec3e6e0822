"""What the replay keeps across its slices at a given history's size (ADR 0176): the day rows of ``n`` cases
drawn as bench_insight's history draws them (3 years, the same unit tree), their count and resident memory,
and the peak while they are spread and let go one scope at a time. No Kafka, no database: the memory of the
counting state alone (the slices' own memory is measured by ``bench_insight.py --replay-only``).

    uv run python bench/insight_replay_rows.py --cases 1000000
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import date, timedelta
from pathlib import Path

from insight_history import fake_fact, tree
from yima_insight.core.rollup import Rows, day_rows, spread


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main(n: int, years: int) -> None:
    rng, paths = random.Random(7), tree()
    start = date.today().replace(day=1) - timedelta(days=365 * years)
    days = (date.today() - start).days
    gc.collect()
    before = status_kb("VmRSS")
    t0 = time.perf_counter()
    rows: Rows = {}
    i, carry, chunk = 0, 0.0, []
    for d in range(days):
        carry += n / days
        for _ in range(int(carry)):
            f = fake_fact(i, start + timedelta(days=d), rng, paths)
            i += 1
            if (s := f.slice()) is not None:
                chunk.append((s, f.vector()))
        carry -= int(carry)
        if len(chunk) > 20_000:
            day_rows(chunk, rows)
            chunk = []
    day_rows(chunk, rows)
    del chunk
    gc.collect()
    held = status_kb("VmRSS") - before
    n_rows = sum(map(len, rows.values()))
    print(f"{i:,} cases over {days} days: {len(rows)} scopes, {n_rows:,} day rows, resident +{held / 1024:,.0f} MB "
          f"({held * 1024 / max(1, n_rows):,.0f} B a row; counted in {time.perf_counter() - t0:.0f} s)")
    Path("/proc/self/clear_refs").write_text("5")
    t1, docs, fields = time.perf_counter(), 0, 0
    while rows:
        scope = next(iter(rows))
        out = spread(scope, rows.pop(scope))
        docs += len(out)
        fields += sum(map(len, out.values()))
        del out
    peak = status_kb("VmHWM") - before
    print(f"spread one scope at a time: {docs:,} counter documents ({fields:,} fields) in "
          f"{time.perf_counter() - t1:.0f} s; peak +{peak / 1024:,.0f} MB over the start (rows and one scope)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--years", type=int, default=3)
    args = ap.parse_args()
    main(args.cases, args.years)
