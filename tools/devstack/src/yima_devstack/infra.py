"""Real Apache Kafka and a MongoDB-protocol server as local processes, for machines without Docker.

Kafka comes from Maven Central (``deploy/local/kafka/pom.xml``) and runs in KRaft mode on the JVM; the
MongoDB-protocol server is SecantusDB, which lives in its own virtualenv because it is GPL-licensed: it
is a separate dev/test process, never a dependency of our packages.

Layout of ``state_dir``::

    endpoints.json           addresses and ports of the last start (reused by the next one)
    kafka.pid  kafka.log     broker process (kafka.pid.start: its start time, to recognise it)
    mongo.pid  mongo.log     MongoDB-protocol server process (likewise)
    kafka/server.properties  rendered from deploy/local/kafka/server.properties.template (0600: passwords)
    kafka/credentials.json   SCRAM passwords of every principal (0600), made once (docs/adr/0070)
    kafka/data/              Kafka log dir (formatted once, with the super user's SCRAM credential)
    mongo/                   SecantusDB storage
    secantusd.toml           empty on purpose (see _start_mongo)
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yima_kit.kafka_auth import KafkaAuth

from . import kafka_security
from .readiness import NotReadyError, wait_for_kafka, wait_for_mongo

KAFKA_VERSION = "4.1.1"  # keep in step with deploy/local/kafka/pom.xml
SECANTUS_REQUIREMENT = "secantusdb==0.7.0b3"
SECANTUS_VERSION = SECANTUS_REQUIREMENT.split("==")[1]
APT_PACKAGES = {"java": "openjdk-17-jre-headless", "mvn": "maven"}
KAFKA_HEAP = "-Xmx512m"
LOCALHOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40


class InfraError(RuntimeError):
    """Installing, starting or stopping the local servers failed; the message says why."""


@dataclass(frozen=True)
class Endpoints:
    """Where the platform finds its infrastructure."""

    kafka_bootstrap: str
    mongo_url: str
    # SCRAM passwords by principal when we started the broker ourselves; empty: the YIMA_KAFKA_… environment
    # says how to authenticate (servers given from outside, containers).
    kafka_users: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def kafka_auth(self, principal: str = kafka_security.ADMIN) -> KafkaAuth:
        """The credentials of ``principal`` (default: the super user); without users of our own, those of
        the environment."""
        if not self.kafka_users:
            return KafkaAuth.from_env()
        if principal not in self.kafka_users:
            raise InfraError(f"no Kafka principal {principal!r} on this cluster")
        return KafkaAuth.scram(principal, self.kafka_users[principal])

    def service_kafka_env(self, service: str) -> dict[str, str]:
        """The Kafka credentials of ``service``'s own principal (empty without users of our own: then the
        process inherits the environment's)."""
        if not self.kafka_users:
            return {}
        return self.kafka_auth(kafka_security.service_principal(service)).as_env()

    def as_env(self, principal: str = kafka_security.ADMIN) -> dict[str, str]:
        """The environment variables every yima service and test reads (Kafka credentials of ``principal``)."""
        env = {"YIMA_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "YIMA_MONGO_URL": self.mongo_url}
        if self.kafka_users:
            env |= self.kafka_auth(principal).as_env()
        return env


@dataclass(frozen=True)
class ServerStatus:
    name: str
    pid: int | None
    running: bool


@dataclass(frozen=True)
class InfraStatus:
    servers: tuple[ServerStatus, ...]
    endpoints: Endpoints | None

    @property
    def running(self) -> bool:
        return all(s.running for s in self.servers)


@dataclass(frozen=True)
class _Ports:
    kafka: int
    controller: int
    mongo: int


def mongo_url_for(port: int) -> str:
    # journal=true: SecantusDB (like mongod) may otherwise lose the last acknowledged writes on kill -9.
    return f"mongodb://{LOCALHOST}:{port}/?directConnection=true&journal=true"


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `StorageTool random-uuid`).

    Like Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool's argument
    parser would take it for an option ("argument --cluster-id/-t: expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "yima"


def find_deploy_dir() -> Path:
    """``deploy/local/kafka`` of the source tree this package runs from (or of the current directory)."""
    here = Path(__file__).resolve()
    for root in (*here.parents, Path.cwd(), *Path.cwd().parents):
        candidate = root / "deploy" / "local" / "kafka"
        if (candidate / "pom.xml").is_file():
            return candidate
    raise InfraError("deploy/local/kafka/pom.xml not found above this package or the current directory")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if a server could listen on ``port`` now. SO_REUSEADDR as the servers themselves set it: the
    connections of a run stopped a moment ago linger in TIME_WAIT and must not make the port look taken
    (a live listener still does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: Sequence[str | Path], *, what: str, cwd: Path | None = None) -> None:
    """Run an install step; on failure raise with its output (tools print no passwords given as arguments)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise InfraError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(output))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise installs between processes (e.g. two test sessions on a fresh machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _uv_command() -> list[str]:
    # `uv run` exports UV (its own path); otherwise uv is on PATH or importable (it is pip-installed here).
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return [candidate]
    with contextlib.suppress(ImportError):
        import uv  # noqa: F401

        return [sys.executable, "-m", "uv"]
    raise InfraError("uv not found (neither $UV, uv on PATH, nor `python -m uv`)")


def _start_time(pid: int) -> str | None:
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


def _is_zombie(pid: int) -> bool:
    """Exited but not yet reaped by its parent. A thread-group leader that is a zombie while other
    threads still run (a JVM during shutdown) is not: that process is still alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] != "Z":
            return False
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:
        return False


def _pid_running(pid: int, start_time: str | None) -> bool:
    """True if ``pid`` is alive and still the process that was started at ``start_time``."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not Path("/proc/self/stat").exists():
        return True  # no procfs (macOS): trust the PID file
    return _start_time(pid) == start_time and not _is_zombie(pid)


class _Server:
    """One background server process: its PID file (plus its start time, see ``_start_time``) and log."""

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
        return _pid_running(pid, start_time)

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
        self.start_file.write_text(f"{_start_time(self._child.pid) or ''}\n")
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


class LocalInfra:
    """Installs, starts and stops single-node Kafka + SecantusDB listening on 127.0.0.1 only."""

    def __init__(
        self,
        state_dir: Path,
        kafka_port: int | None = None,
        mongo_port: int | None = None,
        *,
        cache_dir: Path | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.kafka_port = kafka_port
        self.mongo_port = mongo_port
        self.ready_timeout = ready_timeout
        cache = cache_dir or cache_root()
        self.kafka_home = cache / f"kafka-{KAFKA_VERSION}"
        self.kafka_libs = self.kafka_home / "libs"
        self.secantus_venv = cache / f"secantus-{SECANTUS_VERSION}"
        self._install_lock = cache / ".install.lock"
        self._properties = self.state_dir / "kafka" / "server.properties"
        self._kafka_data = self.state_dir / "kafka" / "data"
        self._mongo_data = self.state_dir / "mongo"
        self._endpoints_file = self.state_dir / "endpoints.json"
        self.credentials = kafka_security.Credentials(self.state_dir / "kafka" / "credentials.json")
        self._secured_marker = self.state_dir / "kafka" / "data.sasl-scram"  # data/ was formatted with it
        self.kafka = _Server("kafka", self.state_dir)
        self.mongo = _Server("mongo", self.state_dir)

    # ----------------------------------------------------------------------------------------- install

    def install(self) -> None:
        """Make Java, the Kafka jars and the SecantusDB virtualenv available. Idempotent and pinned:
        a second call only checks two marker files."""
        if self._kafka_installed() and self._secantus_installed():
            self._require_tool("java")
            return
        with _file_lock(self._install_lock):
            self._install_kafka()
            self._install_secantus()

    def _require_tool(self, tool: str) -> str:
        path = shutil.which(tool)
        if path is None:
            self._apt_install([APT_PACKAGES[tool]])
            path = shutil.which(tool)
        if path is None:
            raise InfraError(f"{tool} still not on PATH after installing {APT_PACKAGES[tool]}")
        return path

    @staticmethod
    def _apt_install(packages: list[str]) -> None:
        if os.geteuid() != 0:
            wanted = " ".join(packages)
            raise InfraError(f"{wanted} missing and not root: run `apt-get install {wanted}` as root")
        _run(["apt-get", "update"], what="apt-get update")
        _run(["apt-get", "install", "-y", "--no-install-recommends", *packages], what="apt-get install")

    def _kafka_marker(self) -> Path:
        return self.kafka_home / "installed.json"

    def _kafka_installed(self) -> bool:
        try:
            marker = json.loads(self._kafka_marker().read_text())
        except (OSError, ValueError):
            return False
        # A changed pom (e.g. a bumped binding) must trigger a fresh copy.
        if marker.get("pom_sha256") != _sha256(find_deploy_dir() / "pom.xml"):
            return False
        return all((self.kafka_libs / jar).is_file() for jar in marker.get("jars", ()))

    def _install_kafka(self) -> None:
        if self._kafka_installed():
            return
        self._require_tool("java")
        mvn = self._require_tool("mvn")
        pom = find_deploy_dir() / "pom.xml"
        staging = self.kafka_home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        goal = "dependency:copy-dependencies"
        cmd: list[str | Path] = [mvn, "-q", "-B", "-f", pom, goal, f"-DoutputDirectory={staging}"]
        _run(cmd, what=f"fetching Kafka {KAFKA_VERSION} jars with Maven")
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if not any(j.startswith(f"kafka_2.13-{KAFKA_VERSION}") for j in jars):
            raise InfraError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is not in {staging}")
        # Swap in the complete directory only now, so an interrupted install never looks finished.
        shutil.rmtree(self.kafka_libs, ignore_errors=True)
        staging.rename(self.kafka_libs)
        marker = {"kafka_version": KAFKA_VERSION, "pom_sha256": _sha256(pom), "jars": jars}
        self._kafka_marker().write_text(json.dumps(marker, indent=2) + "\n")

    def _secantus_marker(self) -> Path:
        return self.secantus_venv / "yima-installed.json"

    def _secantus_installed(self) -> bool:
        try:
            marker = json.loads(self._secantus_marker().read_text())
        except (OSError, ValueError):
            return False
        return marker.get("requirement") == SECANTUS_REQUIREMENT and self._secantus_bin().is_file()

    def _secantus_bin(self) -> Path:
        return self.secantus_venv / "bin" / "secantusd-py"

    def _install_secantus(self) -> None:
        if self._secantus_installed():
            return
        uv = _uv_command()
        shutil.rmtree(self.secantus_venv, ignore_errors=True)
        self.secantus_venv.parent.mkdir(parents=True, exist_ok=True)
        # sys.executable as the base interpreter: uv must never try to download a Python here.
        cwd = self.secantus_venv.parent  # outside any uv project, so no pyproject.toml is consulted
        _run([*uv, "venv", "-q", "--python", sys.executable, str(self.secantus_venv)], what="uv venv", cwd=cwd)
        python = self.secantus_venv / "bin" / "python"
        install = [*uv, "pip", "install", "-q", "--python", str(python), SECANTUS_REQUIREMENT]
        _run(install, what=f"installing {SECANTUS_REQUIREMENT}", cwd=cwd)
        self._secantus_marker().write_text(json.dumps({"requirement": SECANTUS_REQUIREMENT}) + "\n")

    # ------------------------------------------------------------------------------------------- start

    def start(self) -> Endpoints:
        """Start both servers (or return the running ones) and wait until real clients get answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        reused = self._reuse_running()
        if reused is not None:
            return reused
        self.stop()  # half-running (one server died): start both afresh on the same data
        if not (self._kafka_installed() and self._secantus_installed()):
            raise InfraError("not installed: run LocalInfra.install() (or `yima-dev infra-install`) first")
        ports = self._choose_ports()
        users = self._users()
        endpoints = Endpoints(f"{LOCALHOST}:{ports.kafka}", mongo_url_for(ports.mongo), users)
        try:
            self._start_mongo(ports.mongo)
            self._start_kafka(ports, users)
            self._await_ready(endpoints)
            self._secure(endpoints)
        except BaseException:
            self.stop()
            raise
        self._write_endpoints(endpoints, ports)
        return endpoints

    def _reuse_running(self) -> Endpoints | None:
        if not (self.kafka.running() and self.mongo.running()):
            return None
        saved = self._saved()
        if saved is None:
            return None
        endpoints, ports = saved
        endpoints = Endpoints(endpoints.kafka_bootstrap, endpoints.mongo_url, self._users())
        wanted = {"kafka": (self.kafka_port, ports.kafka), "mongo": (self.mongo_port, ports.mongo)}
        for name, (asked, actual) in wanted.items():
            if asked is not None and asked != actual:
                raise InfraError(
                    f"{name} already runs from {self.state_dir} on port {actual}, not {asked}; stop it first"
                )
        try:
            wait_for_mongo(endpoints.mongo_url, 5.0)
            wait_for_kafka(endpoints.kafka_bootstrap, 10.0, auth=endpoints.kafka_auth())
        except NotReadyError:
            return None  # alive but not answering: restart
        self._secure(endpoints)  # principals may have been added since (a new service, a new department)
        return endpoints

    def _users(self) -> dict[str, str]:
        try:
            departments = kafka_security.demo_departments()
            asyncapi = kafka_security.load_asyncapi()
        except FileNotFoundError as exc:
            raise InfraError(str(exc)) from exc
        return self.credentials.ensure(kafka_security.principals(departments, asyncapi))

    def _secure(self, endpoints: Endpoints) -> None:
        """Every principal's SCRAM credential and the ACLs (idempotent; docs/adr/0070)."""
        from ._aio import run_sync

        try:
            departments = kafka_security.demo_departments()
            legacy = [c for c in kafka_security.legacy_feedback_units() if c in departments]
            plan = kafka_security.acl_plan(kafka_security.load_asyncapi(), departments, legacy)
            run_sync(kafka_security.apply(endpoints.kafka_bootstrap, endpoints.kafka_auth(),
                                          endpoints.kafka_users, plan))
        except Exception as exc:
            raise self.kafka.failure(f"setting up Kafka principals and ACLs failed: {exc}") from exc

    def _saved(self) -> tuple[Endpoints, _Ports] | None:
        try:
            data = json.loads(self._endpoints_file.read_text())
            return Endpoints(data["kafka_bootstrap"], data["mongo_url"]), _Ports(**data["ports"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_endpoints(self, endpoints: Endpoints, ports: _Ports) -> None:
        data = {"kafka_bootstrap": endpoints.kafka_bootstrap, "mongo_url": endpoints.mongo_url, "ports": asdict(ports)}
        self._endpoints_file.write_text(json.dumps(data, indent=2) + "\n")

    def _choose_ports(self) -> _Ports:
        """Explicit ports win; otherwise the previous run's ports (stable addresses across restarts) if
        still free, otherwise any free port."""
        saved = self._saved()
        previous = saved[1] if saved else None

        def pick(asked: int | None, before: int | None, what: str) -> int:
            if asked is not None:
                if not port_is_free(asked):
                    raise InfraError(f"port {asked} for {what} is already in use on {LOCALHOST}")
                return asked
            if before is not None and port_is_free(before):
                return before
            return free_port()

        kafka = pick(self.kafka_port, previous.kafka if previous else None, "Kafka")
        mongo = pick(self.mongo_port, previous.mongo if previous else None, "MongoDB")
        controller = pick(None, previous.controller if previous else None, "the Kafka controller")
        while controller in (kafka, mongo):
            controller = free_port()
        return _Ports(kafka=kafka, controller=controller, mongo=mongo)

    def _start_mongo(self, port: int) -> None:
        self._mongo_data.mkdir(parents=True, exist_ok=True)
        # An explicit (empty) config file turns off SecantusDB's auto-discovery of ./secantusd.toml and
        # ~/.secantus/secantusd.toml, so a developer's personal config cannot change the test servers.
        config = self.state_dir / "secantusd.toml"
        config.touch()
        cmd: list[str | Path] = [
            self._secantus_bin(), "--config", config, "--host", LOCALHOST, "--port", str(port),
            "--storage-path", self._mongo_data, "--cache-size", "256M",
        ]  # fmt: skip
        self.mongo.spawn(cmd, cwd=self.state_dir)

    def _start_kafka(self, ports: _Ports, users: Mapping[str, str]) -> None:
        java = self._require_tool("java")
        self._render_properties(ports, users)
        self._format_storage_once(java, users[kafka_security.ADMIN])
        cmd: list[str | Path] = [
            java, KAFKA_HEAP, "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
            "-cp", f"{self.kafka_libs}/*", "kafka.Kafka", self._properties,
        ]  # fmt: skip
        self.kafka.spawn(cmd, cwd=self.state_dir)

    def _render_properties(self, ports: _Ports, users: Mapping[str, str]) -> None:
        template = string.Template((find_deploy_dir() / "server.properties.template").read_text())
        text = template.substitute(
            kafka_port=ports.kafka, controller_port=ports.controller, log_dir=self._kafka_data,
            admin_user=kafka_security.ADMIN, admin_password=users[kafka_security.ADMIN],
            controller_password=users[kafka_security.CONTROLLER],
        )
        self._properties.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

    def _format_storage_once(self, java: str, admin_password: str) -> None:
        if (self._kafka_data / "meta.properties").exists():
            if self._secured_marker.exists():
                return
            # Formatted before the broker authenticated clients: its metadata has no super user, and no
            # client could log in. Local data only (a dev stack): start it afresh.
            print(f"· {self._kafka_data} predates Kafka authentication (ADR 0070): formatting it afresh",
                  file=sys.stderr)
            shutil.rmtree(self._kafka_data)
        cluster_id = new_cluster_id()  # made here rather than by `StorageTool random-uuid`: saves a JVM start
        # controller.quorum.voters is static, so 4.1 needs neither --standalone nor --initial-controllers.
        # The super user's SCRAM credential goes into the first metadata (KIP-900): without it nobody could
        # log in to create the others. Every other principal is added by _secure() at each start.
        scram = f"SCRAM-SHA-512=[name={kafka_security.ADMIN},password={admin_password}]"
        cmd: list[str | Path] = [java, "-cp", f"{self.kafka_libs}/*", "kafka.tools.StorageTool", "format",
               "-t", cluster_id, "-c", self._properties, "--add-scram", scram]  # fmt: skip
        _run(cmd, what="formatting Kafka storage")
        self._secured_marker.write_text("SASL/SCRAM-SHA-512 super user formatted in (docs/adr/0070)\n")

    def _await_ready(self, endpoints: Endpoints) -> None:
        deadline = time.monotonic() + self.ready_timeout
        for server, wait, address in (
            (self.mongo, wait_for_mongo, endpoints.mongo_url),
            (self.kafka, wait_for_kafka, endpoints.kafka_bootstrap),
        ):
            try:
                if server is self.kafka:
                    wait_for_kafka(address, max(deadline - time.monotonic(), 1.0), server.running,
                                   auth=endpoints.kafka_auth())
                    continue
                wait(address, max(deadline - time.monotonic(), 1.0), server.running)
            except NotReadyError as exc:
                raise server.failure(str(exc)) from exc

    def restart(self, which: str) -> None:
        """Stop one server (``kafka`` or ``mongo``) and start it again on the same port and data, as an operator's
        restart or a crash-and-recover would (the fault suite, ``./yima chaos``)."""
        saved = self._saved()
        if saved is None:
            raise InfraError("restart: the servers were not started from this state directory")
        endpoints, ports = saved
        server = {"kafka": self.kafka, "mongo": self.mongo}[which]
        server.stop()
        try:
            if which == "mongo":
                self._start_mongo(ports.mongo)
                wait_for_mongo(endpoints.mongo_url, self.ready_timeout, server.running)
            else:
                users = self.credentials.load()
                self._start_kafka(ports, users)
                wait_for_kafka(endpoints.kafka_bootstrap, self.ready_timeout, server.running,
                               auth=KafkaAuth.scram(kafka_security.ADMIN, users[kafka_security.ADMIN]))
        except NotReadyError as exc:
            raise server.failure(str(exc)) from exc

    # -------------------------------------------------------------------------------------- stop/status

    def stop(self) -> None:
        """Stop both servers by the PIDs we recorded (SIGTERM, then SIGKILL after a grace period)."""
        servers = (self.kafka, self.mongo)
        for server in servers:  # both shut down at once: SecantusDB alone takes about 2 s
            server.request_stop()
        for server in servers:
            server.stop()

    def status(self) -> InfraStatus:
        servers = tuple(ServerStatus(s.name, s.pid(), s.running()) for s in (self.kafka, self.mongo))
        saved = self._saved()
        endpoints = saved[0] if saved and all(s.running for s in servers) else None
        if endpoints is not None:
            endpoints = Endpoints(endpoints.kafka_bootstrap, endpoints.mongo_url, self.credentials.load())
        return InfraStatus(servers=servers, endpoints=endpoints)

    def pids(self) -> dict[str, int | None]:
        return {s.name: s.pid() for s in (self.kafka, self.mongo)}
