"""Who holds the stand-in's serial resources, and for how long (measurement only; ``bench/ops_per_case.py --locks``).

The MongoDB-protocol stand-in serialises on three kinds of lock (bench/README.md, *The transaction lane*):
its storage's global lock (``storage``: every command's profile setting, every find's index walk), its
transaction registry's lock (``registry``: every transactional statement's start and every commit first waits
for every running transactional statement) and each transaction's mutex (``txn``: held while one of its
statements runs — the lane). :class:`TimedLock` wraps such a lock and adds, per key (what held it: a command
and namespace, or the function that took it), how often it was taken, how long the taker waited for it and how
long it was held. ``sitecustomize.py`` beside this file puts it into the server; :func:`report` prints the
difference of two snapshots per case.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAMILIES = ("txn", "registry", "storage")
Stats = dict[str, dict[str, list[float]]]  # family → key → [acquires, seconds waited, seconds held]

_SKIP = {"__enter__", "__exit__", "acquire", "release"}


class Recorder:
    """The counts of every wrapped lock of one process, dumped as JSON every ``every`` seconds to ``path``."""

    def __init__(self) -> None:
        self.stats: Stats = {f: {} for f in FAMILIES}
        self._lock = threading.Lock()

    def add(self, family: str, key: str, waited: float, held: float) -> None:
        with self._lock:
            s = self.stats.setdefault(family, {}).setdefault(key, [0, 0.0, 0.0])
            s[0] += 1
            s[1] += waited
            s[2] += held

    def snapshot(self) -> Stats:
        with self._lock:
            return {f: {k: list(v) for k, v in d.items()} for f, d in self.stats.items()}

    def dump_every(self, path: str, every: float = 1.0) -> None:
        def loop() -> None:
            while True:
                time.sleep(every)
                tmp = f"{path}.tmp"
                Path(tmp).write_text(json.dumps({"t": time.time(), "stats": self.snapshot()}))
                Path(tmp).replace(path)
        threading.Thread(target=loop, name="lockstats", daemon=True).start()


class TimedLock:
    """A (re-entrant or not) lock that records, on its outermost release, the wait and hold time of that use under
    ``key_of(taker)`` — ``taker`` being the name of the function that took it."""

    def __init__(self, inner: Any, family: str, recorder: Recorder,
                 key_of: Callable[[str], str] = lambda taker: taker) -> None:
        self._inner = inner
        self._family = family
        self._recorder = recorder
        self._key_of = key_of
        self._local = threading.local()  # this thread's use: [depth, acquired at, waited, taker]

    def _use(self) -> list[Any]:
        use = getattr(self._local, "use", None)
        if use is None:
            use = self._local.use = [0, 0.0, 0.0, ""]
        return use

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        use = self._use()
        if use[0]:  # re-entered (an RLock): only the outermost use counts
            got = self._inner.acquire(blocking, timeout)
            if got:
                use[0] += 1
            return bool(got)
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_name in _SKIP:
            frame = frame.f_back
        t0 = time.perf_counter()
        if not self._inner.acquire(blocking, timeout):
            return False
        t1 = time.perf_counter()
        use[0], use[1], use[2], use[3] = 1, t1, t1 - t0, frame.f_code.co_name
        return True

    def release(self) -> None:
        use = self._use()
        use[0] -= 1
        if use[0]:
            self._inner.release()
            return
        held = time.perf_counter() - use[1]
        key = self._key_of(use[3])  # at release: what the holder did meanwhile is known by now
        self._inner.release()
        self._recorder.add(self._family, key, use[2], held)

    def __enter__(self) -> TimedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def difference(after: Stats, before: Stats) -> Stats:
    out: Stats = {}
    for family, keys in after.items():
        prev = before.get(family, {})
        out[family] = {k: [v[i] - prev.get(k, [0, 0.0, 0.0])[i] for i in range(3)] for k, v in keys.items()}
        out[family] = {k: v for k, v in out[family].items() if v[0] > 0}
    return out


def report(stats: Stats, cases: int, top: int = 15) -> list[str]:
    """Per family: held and waited in ms per case, then the ``top`` keys by time held."""
    lines = []
    for family in FAMILIES:
        keys = stats.get(family, {})
        held = sum(v[2] for v in keys.values())
        waited = sum(v[1] for v in keys.values())
        lines.append(f"{family}: held {1000 * held / cases:.1f} ms per case, waited for {1000 * waited / cases:.1f} "
                     f"ms per case ({sum(v[0] for v in keys.values()) / cases:.1f} uses per case)")
        for key, (n, w, h) in sorted(keys.items(), key=lambda kv: -kv[1][2])[:top]:
            lines.append(f"  {1000 * h / cases:8.2f} ms held {1000 * w / cases:8.2f} ms waited {n / cases:6.2f} "
                         f"uses  {1000 * h / n:7.2f} ms a use  {key}")
    return lines


def read(path: Path) -> Stats:
    try:
        return dict(json.loads(path.read_text())["stats"])
    except (OSError, ValueError, KeyError):
        return {}
