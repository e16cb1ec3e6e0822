"""``yima-dev bench`` (``./yima bench``): the whole-platform benchmark of issue 12 (bench/README.md).

Starts the platform as ``./yima run`` does — Kafka, the MongoDB-protocol server, every service as its own process
and the SMS/webhook dev gateway — on free ports in a fresh state directory (or uses servers and services given by
environment), drives it only through its public interfaces, prints the figures next to the issue's targets and
writes them as JSON to bench/results/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from .._aio import run_sync
from ..app import app
from ..infra import Endpoints, InfraError, LocalInfra, free_port
from ..services import SERVICE_PORTS, Platform, peer_env, service_env
from ..topics import ensure_topics, platform_topics
from . import report
from .run import Options

GATEWAY_MODULE = "yima_notify.devgateway"
ENV_INTAKE = "YIMA_BENCH_INTAKE_URL"


@dataclass(frozen=True)
class Target:
    endpoints: Endpoints
    intake_url: str
    db_prefix: str
    db_pid: int | None
    started_here: bool
    # the processes whose CPU the bench reads (name → (pid, with its children)): each service, the dev gateway,
    # Kafka and the database server when started here
    processes: dict[str, tuple[int, bool]] = field(default_factory=dict)
    # each service's base URL (its /metrics tells where work waits), when started here
    urls: dict[str, str] = field(default_factory=dict)


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


@contextlib.contextmanager
def platform(state_dir: Path) -> Iterator[Target]:
    """The platform to measure: given by environment, or started here (and stopped afterwards)."""
    kafka, mongo, intake = (os.environ.get(k) for k in ("YIMA_KAFKA_BOOTSTRAP", "YIMA_MONGO_URL", ENV_INTAKE))
    if intake:
        if not (kafka and mongo):
            raise InfraError(f"{ENV_INTAKE} needs YIMA_KAFKA_BOOTSTRAP and YIMA_MONGO_URL of the same platform")
        yield Target(Endpoints(kafka, mongo), intake.rstrip("/"), os.environ.get("YIMA_MONGO_DB_PREFIX", ""),
                     None, False)
        return
    infra: LocalInfra | None = None
    if kafka and mongo:
        endpoints = Endpoints(kafka, mongo)
    elif kafka or mongo:
        raise InfraError("set both YIMA_KAFKA_BOOTSTRAP and YIMA_MONGO_URL, or neither")
    else:
        shutil.rmtree(state_dir / "infra", ignore_errors=True)  # a fresh platform every run
        infra = LocalInfra(state_dir / "infra", kafka_port=free_port(), mongo_port=free_port())
    proc: Platform | None = None
    try:
        if infra is not None:
            _log("· starting Kafka and the MongoDB-protocol server (fresh, free ports) …")
            infra.install()
            endpoints = infra.start()
            # the bench's own clients log in as the super user (ADR 0070), as bench_at_least_once does; each
            # service gets its own principal below
            os.environ.update(endpoints.kafka_auth().as_env())
        # Each service with its own Kafka principal, as `./yima run` starts them.
        proc = Platform(log_dir=state_dir / "logs", ports={n: free_port() for n in SERVICE_PORTS},
                        service_env=endpoints.service_kafka_env)
        run_sync(ensure_topics(endpoints.kafka_bootstrap, platform_topics()))
        gateway_port = free_port()
        gw = f"http://127.0.0.1:{gateway_port}"
        extra = {  # what `./yima run` sets: texts and webhooks to the local dev gateway, quiet hours off
            "YIMA_NOTIFY_SMS_URL": f"{gw}/sms",
            "YIMA_NOTIFY_UNIT_CONTACTS_JSON": json.dumps({"*": {"webhook_url": f"{gw}/hooks/{{unit}}"}}),
            "YIMA_NOTIFY_QUIET_HOURS": "",
        }
        env = {**peer_env(proc.ports), **service_env(endpoints.kafka_bootstrap, endpoints.mongo_url, extra=extra)}
        _log("· starting the dev gateway and the services …")
        proc.start_helper("devgateway", GATEWAY_MODULE, gateway_port, env)
        proc.start(env)
        proc.wait_healthy(timeout=180)
        infra_pids = infra.pids() if infra is not None else {}
        pid = infra_pids.get("mongo")
        processes = {n: (p.pid, True) for n, p in proc.procs.items() if p.pid is not None}
        processes |= {name: (v, True) for name, v in infra_pids.items() if v is not None}
        urls = {n: p.url for n, p in proc.procs.items() if n in SERVICE_PORTS}
        yield Target(endpoints, proc.procs["intake"].url, "", pid, True, processes, urls)
    finally:
        if proc is not None:
            _log("· stopping the services …")
            proc.stop()
        if infra is not None:
            _log("· stopping Kafka and the database …")
            infra.stop()


async def measure(target: Target, opts: Options) -> dict[str, Any]:
    from .load import Submitter, Watcher
    from .probe import DbProbe, delta
    from .run import baselines, idle_figures

    bootstrap = target.endpoints.kafka_bootstrap
    result: dict[str, Any] = {"schema": 1, "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "git_commit": _git_commit(),
                              "machine": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
                              "platform": "started by the bench" if target.started_here else "given by environment",
                              "options": {k: v for k, v in vars(opts).items()}, "notes": []}
    probe = DbProbe(target.endpoints.mongo_url, target.db_pid)
    await probe.start()
    if probe.note:
        result["notes"].append(probe.note)
    # every process's CPU per phase: the database server (as "mongo"), Kafka, each service, the dev gateway, and
    # the bench itself (its own threads only: the services are its children)
    probe.processes = {**target.processes, "bench": (os.getpid(), False)}
    if probe.pid is not None:
        probe.processes.setdefault("mongo", (probe.pid, True))
    sub = Submitter(target.intake_url, opts.addresses)
    watcher = Watcher(bootstrap, resolve=True)
    await sub.start()
    await watcher.start()
    try:
        warm = await _warm_up(sub, watcher, opts, result)
        watcher.resolve = opts.resolve
        result["baselines"] = await baselines(target.endpoints.mongo_url, bootstrap, opts.baseline_seconds, _log)
        result["history"] = await _history(target, probe, warm, opts)
        kw = await _idle_before(probe, bootstrap, opts, result)
        kw |= {"sub": sub, "watcher": watcher, "probe": probe, "bootstrap": bootstrap, "opts": opts, "log": _log,
               "urls": target.urls}
        result["phases"] = await _run_phases(_drives(sub, opts), kw, result)
        _log(f"· idle again for {opts.idle_seconds:.0f} s …")
        a = await probe.sample()
        await _sleep(opts.idle_seconds)
        result["idle"]["after"] = idle_figures(delta(a, await probe.sample()))
        if watcher.errors:
            result["notes"].append(f"watcher: {watcher.errors[:3]}")
    finally:
        await watcher.stop()
        await sub.close()
        await probe.close()
    result["machine"]["loadavg_after"] = os.getloadavg()
    result["ratios"] = report.ratios(result)
    result["targets"] = report.evaluate(result)
    return result


async def _warm_up(sub: Any, watcher: Any, opts: Options, result: dict[str, Any]) -> dict[str, str | None]:
    """Consumer groups joined, code paths hot; with history these cases, answered "accepted" and "resolved" by
    their departments, are the templates of the history. Returns their tracking codes by case id."""
    from .run import drain

    n_warm = max(opts.warmup, 30 if opts.history else 0)
    _log(f"· warm-up: {n_warm} cases …")
    for _ in range(n_warm):
        await sub.submit("warmup")
    warm = {s.case_id: s.tracking_code for s in sub.results if s.phase == "warmup" and s.case_id}
    ok, took = await drain(watcher, set(warm), max(opts.drain_timeout, 120), opts.quiet_seconds)
    if not ok:
        result["notes"].append(f"warm-up not drained after {took:.0f} s")
    return warm


async def _history(target: Target, probe: Any, warm: dict[str, str | None], opts: Options) -> dict[str, Any]:
    from .history import seed_history
    from .run import settle

    if not opts.history:
        return {"cases": 0}
    _log(f"· loading {opts.history:,} cases of history …")
    history = await seed_history(target.endpoints.mongo_url, target.db_prefix, warm, opts.history, _log)
    history["settle_seconds"] = round(await settle(probe, _log), 1)
    return history


async def _idle_before(probe: Any, bootstrap: str, opts: Options, result: dict[str, Any]) -> dict[str, Any]:
    """The platform's cost while nobody uses it (database operations, Kafka messages per second)."""
    from .probe import kafka_end_offsets, offsets_delta
    from .run import idle_figures, measure_idle

    _log(f"· idle for {opts.idle_seconds:.0f} s …")
    k0 = await kafka_end_offsets(bootstrap)
    idle = await measure_idle(probe, opts.idle_seconds)
    idle_kafka = {t: n / idle.seconds for t, n in offsets_delta(k0, await kafka_end_offsets(bootstrap)).items()}
    result["idle"] = {"before": {**idle_figures(idle), "kafka_messages_per_s": idle_kafka}}
    return {"idle": idle, "idle_kafka": idle_kafka}


def _drives(sub: Any, opts: Options) -> list[tuple[str, Callable[[], Awaitable[Any]], dict[str, Any]]]:
    """The load phases asked for: unloaded (one at a time), at a fixed rate, at a fixed concurrency."""
    from .run import at_rate, concurrent, unloaded

    drives: list[tuple[str, Callable[[], Awaitable[Any]], dict[str, Any]]] = []
    if opts.unloaded:
        drives.append(("unloaded", lambda: unloaded(sub, opts.unloaded), {}))
    if opts.rate and opts.rate_duration:
        drives.append(("rate", lambda: at_rate(sub, opts.rate, opts.rate_duration, opts.max_in_flight),
                       {"rate": opts.rate}))
    if opts.concurrency and opts.duration:
        drives.append(("concurrent", lambda: concurrent(sub, opts.concurrency, opts.duration),
                       {"concurrency": opts.concurrency}))
    return drives


async def _run_phases(drives: list[tuple[str, Callable[[], Awaitable[Any]], dict[str, Any]]], kw: dict[str, Any],
                      result: dict[str, Any]) -> dict[str, Any]:
    from .run import run_phase

    phases: dict[str, Any] = {}
    for name, drive, extra in drives:
        try:
            phases[name] = {**await run_phase(name, drive, **kw), **extra}
        except Exception as exc:  # keep what was measured: the other phases and the JSON still come
            result["notes"].append(f"phase {name} failed: {type(exc).__name__}: {exc}")
            _log(f"! phase {name} failed: {type(exc).__name__}: {exc}")
    return phases


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@app.command("bench")
def bench(
    duration: Annotated[float, typer.Option(help="seconds of the concurrent phase (the target: 600)")] = 30,
    concurrency: Annotated[int, typer.Option(help="concurrent submitters of the concurrent phase (0 = skip)")] = 16,
    rate: Annotated[float, typer.Option(help="cases/s of the open-loop phase (0 = skip)")] = 10,
    rate_duration: Annotated[float, typer.Option(help="seconds of the open-loop phase")] = 30,
    unloaded: Annotated[int, typer.Option(help="submissions one at a time, for the unloaded p50 (0 = skip)")] = 20,
    history: Annotated[int, typer.Option(help="closed cases of history to load first (the target: 100000)")] = 0,
    idle_seconds: Annotated[float, typer.Option(help="seconds of each idle measurement")] = 15,
    baseline_seconds: Annotated[float, typer.Option(help="seconds of each raw baseline")] = 4,
    drain_timeout: Annotated[float, typer.Option(help="most seconds to wait for a phase's cases to drain")] = 90,
    addresses: Annotated[int, typer.Option(help="client source addresses 127.0.0.2… (1–250)")] = 200,
    resolve: Annotated[bool, typer.Option(help="departments also answer 'resolved' after 'accepted'")] = False,
    out: Annotated[Path, typer.Option(help="directory of the JSON results")] = Path("bench/results"),
    compare: Annotated[Path | None, typer.Option(help="an earlier result (JSON) to compare with")] = None,
    state_dir: Annotated[Path, typer.Option(help="servers' data and logs when started here")] = Path(".local/bench"),
) -> None:
    """Measure the whole platform (issue 12): HTTP and end-to-end latency, cases/s, notification lag, database
    operations and CPU per case, Kafka messages per case, idle load, raw baselines and the targets.

    Uses YIMA_BENCH_INTAKE_URL + YIMA_KAFKA_BOOTSTRAP + YIMA_MONGO_URL of a running platform when set; with only
    the last two, starts the services against those servers; otherwise starts everything (fresh, free ports)."""
    earlier = None
    if compare is not None:
        try:
            earlier = json.loads(compare.read_text())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"cannot read {compare}: {exc}", param_hint="--compare") from exc
    if not 1 <= addresses <= 250:
        raise typer.BadParameter("must be 1…250", param_hint="--addresses")
    bounds = {"duration": duration, "rate_duration": rate_duration, "idle_seconds": idle_seconds}
    for name, v in bounds.items():
        if not 0 <= v <= 3600:
            raise typer.BadParameter("must be 0…3600 seconds", param_hint=f"--{name.replace('_', '-')}")
    if not 0 <= history <= 1_000_000 or not 0 <= rate <= 1000 or not 0 <= concurrency <= 500:
        raise typer.BadParameter("--history ≤ 1,000,000, --rate ≤ 1000, --concurrency ≤ 500")
    opts = Options(unloaded=unloaded, rate=rate, rate_duration=rate_duration, concurrency=concurrency,
                   duration=duration, idle_seconds=idle_seconds, baseline_seconds=baseline_seconds,
                   drain_timeout=drain_timeout, addresses=addresses, history=history, resolve=resolve)
    t0 = time.monotonic()
    try:
        with platform(state_dir) as target:
            result = run_sync(measure(target, opts))
    except (InfraError, TimeoutError, RuntimeError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    result["wall_seconds"] = round(time.monotonic() - t0, 1)
    path = report.write(result, out)
    typer.echo(report.render(result))
    if earlier is not None:
        typer.echo(report.compare(result, earlier))
    typer.echo(f"figures written to {path}")
