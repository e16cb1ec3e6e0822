"""Start yima's services as separate OS processes (the local run and the end-to-end tests use this)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# Default HTTP ports; intake is the public front door on 8000.
SERVICE_PORTS: dict[str, int] = {"intake": 8000, "routing": 8001, "risk": 8002, "mediation": 8003, "notify": 8004}


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


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str], role: str = "serve") -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"yima_{self.name}", role, "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to the runner, which stops us in order
        )
        log.close()

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

    def start(self, env: dict[str, str], names: list[str] | None = None) -> None:
        for name in names or list(self.ports):
            p = ServiceProcess(name, self.ports[name], self.log_dir / f"{name}.log")
            p.start(env)
            self.procs[name] = p

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
