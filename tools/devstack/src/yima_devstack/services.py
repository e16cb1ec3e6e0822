"""Start yima's services as separate OS processes (the local run and the end-to-end tests use this)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# Default HTTP ports; intake is the public front door on 8000.
SERVICE_PORTS: dict[str, int] = {"intake": 8000, "routing": 8001, "risk": 8002, "mediation": 8003, "notify": 8004,
                                 "insight": 8005,
                                 "console": 8006}


def service_env(
    kafka_bootstrap: str, mongo_url: str, *, db_prefix: str = "", extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "YIMA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "YIMA_MONGO_URL": mongo_url,
            "YIMA_MONGO_DB_PREFIX": db_prefix,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


# Which service calls which over HTTP, as (setting, callee): the platform sets these from its own ports, so
# services find each other on any port assignment (the e2e tests use free ports).
PEER_URLS: tuple[tuple[str, str], ...] = (
    ("YIMA_CONSOLE_ROUTING_URL", "routing"),  # the staff console: sign-in, queues, dispatch, admin
    ("YIMA_CONSOLE_INTAKE_URL", "intake"),  # walk-in and proxy submissions
    ("YIMA_CONSOLE_RISK_URL", "risk"),  # the leader's red cases and follow-up visits
    ("YIMA_CONSOLE_MEDIATION_URL", "mediation"),  # the mediation pages
    ("YIMA_CONSOLE_NOTIFY_URL", "notify"),  # the inbox, failed deliveries, unit contacts
    ("YIMA_CONSOLE_INSIGHT_URL", "insight"),  # the analysts' one table
    ("YIMA_INTAKE_NOTIFY_URL", "notify"),  # the tracking page shows the applicant's messages
    ("YIMA_NOTIFY_MEDIATION_PUBLIC_URL", "mediation"),  # an invited expert's text links to their page there
    ("YIMA_INSIGHT_ROUTING_URL", "routing"),  # the dashboard signs staff in through routing
    ("YIMA_INSIGHT_MEDIATION_URL", "mediation"),  # insurance claims per year, from mediation's staff API
    ("YIMA_RISK_ROUTING_URL", "routing"),  # warnings name places from routing's public org directory
)


def peer_env(ports: dict[str, int]) -> dict[str, str]:
    env = {var: f"http://127.0.0.1:{ports[callee]}" for var, callee in PEER_URLS if callee in ports}
    if "console" in ports:  # mediation's old /console pages send the browser to the console's pages
        env["YIMA_MEDIATION_CONSOLE_URL"] = f"http://127.0.0.1:{ports['console']}/console"
    return env


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    # Run this module instead of the service ``yima_<name>`` (``python -m <module> --port <port>``): a helper
    # such as the notify dev gateway, started by module name so devstack imports no service package.
    module: str | None = None
    pid_file: Path | None = None  # written at every (re)start, for `kill -9 $(cat …)`
    env: dict[str, str] | None = None  # the environment of the last start (an operator's command runs with it)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, env: dict[str, str], role: str = "serve") -> None:
        self.env = dict(env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        argv = ([sys.executable, "-m", self.module] if self.module
                else [sys.executable, "-m", f"yima_{self.name}", role])
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to the runner, which stops us in order
        )
        log.close()
        if self.pid_file is not None:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(f"{self.proc.pid}\n")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Platform:
    """Every service as its own process."""

    log_dir: Path
    db_prefix: str = ""
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    pid_dir: Path | None = None  # <pid_dir>/<name>.pid for every process, when given
    # Per-service additions to the environment: each service's own Kafka principal (docs/adr/0070).
    service_env: Callable[[str], dict[str, str]] | None = None

    def env_for(self, name: str, env: dict[str, str]) -> dict[str, str]:
        return {**env, **(self.service_env(name) if self.service_env is not None else {})}

    def _pid_file(self, name: str) -> Path | None:
        return self.pid_dir / f"{name}.pid" if self.pid_dir is not None else None

    def start(self, env: dict[str, str], names: list[str] | None = None) -> None:
        env = {**peer_env(self.ports), **env}  # an explicit setting in env wins
        for name in names or list(self.ports):
            p = ServiceProcess(name, self.ports[name], self.log_dir / f"{name}.log", pid_file=self._pid_file(name))
            p.start(self.env_for(name, env))
            self.procs[name] = p

    def start_helper(self, name: str, module: str, port: int, env: dict[str, str]) -> ServiceProcess:
        """A helper process (``python -m <module> --port <port>``), watched, restarted and stopped like a
        service; it stops last."""
        p = ServiceProcess(name, port, self.log_dir / f"{name}.log", module=module, pid_file=self._pid_file(name))
        p.start(env)
        self.procs = {name: p, **self.procs}
        return p

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.procs)
        while pending:
            for name in list(pending):
                p = self.procs[name]
                if not p.alive():
                    raise RuntimeError(f"service {name} exited during start-up:\n{p.log_tail()}")
                try:
                    if httpx.get(f"{p.url}/health", timeout=2).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.procs[n].log_tail()}" for n in pending)
                raise TimeoutError(f"services not healthy after {timeout}s: {sorted(pending)}\n{tails}")
            time.sleep(0.3)

    def stop(self) -> None:
        for p in reversed(list(self.procs.values())):
            p.stop()
            pid_file = self._pid_file(p.name)
            if pid_file is not None:
                pid_file.unlink(missing_ok=True)
