"""Real Apache Kafka and a MongoDB-protocol server as local processes, for machines without Docker.

Kafka comes from Maven Central (``deploy/local/kafka/pom.xml``) and runs in KRaft mode on the JVM; the
MongoDB-protocol server is SecantusDB, which lives in its own virtualenv because it is GPL-licensed: it
is a separate dev/test process, never a dependency of our packages.

This module starts, restarts and stops the pair; the rooms beside it hold the rest: ``installer`` (the pinned
software), ``processes`` (one server process, its PID file and log), ``endpoints`` (addresses, ports, credentials).
Their public names stay importable from here.

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

import json
import os
import shutil
import string
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from yima_kit.kafka_auth import KafkaAuth

from . import kafka_security
from .endpoints import (
    LOCALHOST,
    Endpoints,
    InfraError,
    InfraStatus,
    ServerStatus,
    free_port,
    mongo_url_for,
    new_cluster_id,
    port_is_free,
)
from .installer import (
    APT_PACKAGES,
    KAFKA_VERSION,
    SECANTUS_REQUIREMENT,
    SECANTUS_VERSION,
    Installer,
    cache_root,
    find_deploy_dir,
    run_step,
)
from .processes import LOG_TAIL_LINES, STOP_TIMEOUT_S, ServerProcess, log_tail
from .readiness import NotReadyError, wait_for_kafka, wait_for_mongo

__all__ = [
    "APT_PACKAGES",
    "KAFKA_HEAP",
    "KAFKA_VERSION",
    "LOCALHOST",
    "LOG_TAIL_LINES",
    "READY_TIMEOUT_S",
    "SECANTUS_REQUIREMENT",
    "SECANTUS_VERSION",
    "STOP_TIMEOUT_S",
    "Endpoints",
    "InfraError",
    "InfraStatus",
    "LocalInfra",
    "ServerStatus",
    "cache_root",
    "find_deploy_dir",
    "free_port",
    "log_tail",
    "mongo_url_for",
    "new_cluster_id",
    "port_is_free",
]

KAFKA_HEAP = "-Xmx512m"
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class _Ports:
    kafka: int
    controller: int
    mongo: int


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
        self.installer = Installer(cache_dir)
        self.kafka_home = self.installer.kafka_home
        self.kafka_libs = self.installer.kafka_libs
        self.secantus_venv = self.installer.secantus_venv
        self._properties = self.state_dir / "kafka" / "server.properties"
        self._kafka_data = self.state_dir / "kafka" / "data"
        self._mongo_data = self.state_dir / "mongo"
        self._endpoints_file = self.state_dir / "endpoints.json"
        self.credentials = kafka_security.Credentials(self.state_dir / "kafka" / "credentials.json")
        self._secured_marker = self.state_dir / "kafka" / "data.sasl-scram"  # data/ was formatted with it
        self.kafka = ServerProcess("kafka", self.state_dir)
        self.mongo = ServerProcess("mongo", self.state_dir)

    # ----------------------------------------------------------------------------------------- install

    def install(self) -> None:
        """Make Java, the Kafka jars and the SecantusDB virtualenv available (idempotent, see ``installer``)."""
        self.installer.install()

    # ------------------------------------------------------------------------------------------- start

    def start(self) -> Endpoints:
        """Start both servers (or return the running ones) and wait until real clients get answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        reused = self._reuse_running()
        if reused is not None:
            return reused
        self.stop()  # half-running (one server died): start both afresh on the same data
        if not self.installer.installed():
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
            self.installer.secantus_bin(), "--config", config, "--host", LOCALHOST, "--port", str(port),
            "--storage-path", self._mongo_data, "--cache-size", "256M",
        ]  # fmt: skip
        self.mongo.spawn(cmd, cwd=self.state_dir)

    def _start_kafka(self, ports: _Ports, users: Mapping[str, str]) -> None:
        java = self.installer.require_tool("java")
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
        run_step(cmd, what="formatting Kafka storage")
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
