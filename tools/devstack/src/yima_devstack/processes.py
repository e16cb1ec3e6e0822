"""One background server process recognised by PID file and kernel start time, so a stale PID never matches."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .endpoints import InfraError

STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def start_time_of(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/<pid>/stat), or None without procfs.

    Together with the PID it identifies one process for good: a stale PID file whose number now
    belongs to an unrelated process never matches. (Unlike the command line, it stays readable while a
    JVM shuts down: once the JVM's main thread has exited, /proc/<pid>/cmdline reads empty.)
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]  # fields after "pid (comm) ", from field 3


def is_zombie(pid: int) -> bool:
    """Exited but not yet reaped by its parent. A thread-group leader that is a zombie while other
    threads still run (a JVM during shutdown) is not: that process is still alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] != "Z":
            return False
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:
        return False


def pid_running(pid: int, start_time: str | None) -> bool:
    """True if ``pid`` is alive and still the process that was started at ``start_time``."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not Path("/proc/self/stat").exists():
        return True  # no procfs (macOS): trust the PID file
    return start_time_of(pid) == start_time and not is_zombie(pid)


class ServerProcess:
    """One background server process: its PID file (plus its start time, see ``start_time_of``) and log."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.pid_file = state_dir / f"{name}.pid"
        self.start_file = state_dir / f"{name}.pid.start"
        self.log_file = state_dir / f"{name}.log"
        self._child: subprocess.Popen[bytes] | None = None
        self._terminated: int | None = None  # PID that already got SIGTERM from us

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None  # our own child: authoritative, and reaps it once it exits
        try:
            start_time: str | None = self.start_file.read_text().strip()
        except OSError:
            start_time = None
        return pid_running(pid, start_time)

    def spawn(self, cmd: Sequence[str | Path], cwd: Path) -> None:
        if self.log_file.exists():  # keep the previous run's log for post-mortems
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        with self.log_file.open("wb") as log:
            # A session of its own: Ctrl-C in the terminal that ran `infra-up` does not reach the
            # server, and stop() can signal the whole process group it created.
            self._child = subprocess.Popen(
                [str(c) for c in cmd], cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.start_file.write_text(f"{start_time_of(self._child.pid) or ''}\n")
        self.pid_file.write_text(f"{self._child.pid}\n")

    def request_stop(self) -> None:
        """Send SIGTERM (a clean shutdown) if the server runs; ``stop()`` then waits for it."""
        pid = self.pid()
        if pid is not None and self.running() and self._terminated != pid:
            self._signal(pid, signal.SIGTERM)
            self._terminated = pid

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        pid = self.pid()
        if pid is not None and self.running():
            self.request_stop()
            if not self._wait_gone(timeout):
                self._signal(pid, signal.SIGKILL)
                self._wait_gone(5.0)
        self._child = None
        self._terminated = None
        self.pid_file.unlink(missing_ok=True)
        self.start_file.unlink(missing_ok=True)

    def failure(self, reason: str) -> InfraError:
        tail = log_tail(self.log_file)
        return InfraError(f"{self.name}: {reason}\n--- last lines of {self.log_file} ---\n{tail}")

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            # start_new_session made the server its own group leader: signal the group it leads.
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                return True
            time.sleep(0.1)
        return False
