"""bench/standin_locks: the measurement wrapper around the stand-in's serial locks (pure: plain threading locks)."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("standin_locks", ROOT / "bench" / "standin_locks" / "locks.py")
assert _spec is not None and _spec.loader is not None
locks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(locks)


def take_and_hold(lock: object, seconds: float) -> None:
    with lock:  # type: ignore[attr-defined]
        time.sleep(seconds)


def test_the_holder_is_charged_its_hold_and_the_waiter_its_wait_once_per_outermost_use() -> None:
    rec = locks.Recorder()
    lock = locks.TimedLock(threading.RLock(), "txn", rec, key_of=lambda taker: f"by {taker}")
    holder = threading.Thread(target=take_and_hold, args=(lock, 0.2))
    holder.start()
    time.sleep(0.05)

    def waiter() -> None:
        with lock:
            with lock:  # re-entered: one use, not two
                pass
    w = threading.Thread(target=waiter)
    w.start()
    holder.join()
    w.join()
    stats = rec.snapshot()["txn"]
    assert set(stats) == {"by take_and_hold", "by waiter"}
    n, waited, held = stats["by take_and_hold"]
    assert n == 1 and held >= 0.19 and waited < 0.05
    n, waited, held = stats["by waiter"]
    assert n == 1 and waited >= 0.1 and held < 0.05


def test_a_non_blocking_miss_records_nothing_and_the_report_is_per_case() -> None:
    rec = locks.Recorder()
    lock = locks.TimedLock(threading.Lock(), "storage", rec)
    assert lock.acquire()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(blocking=False)))
    t.start()
    t.join()
    lock.release()
    assert got == [False]
    before = rec.snapshot()
    for _ in range(4):
        with lock:
            pass
    diff = locks.difference(rec.snapshot(), before)
    assert {k: v[0] for k, v in diff["storage"].items()} == {
        "test_a_non_blocking_miss_records_nothing_and_the_report_is_per_case": 4}
    lines = locks.report(diff, cases=2)
    assert lines[0].startswith("txn: held 0.0 ms per case")
    storage = next(line for line in lines if line.startswith("storage:"))
    assert "(2.0 uses per case)" in storage
