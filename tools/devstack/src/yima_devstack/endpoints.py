"""Where the local (or given) infrastructure listens, and how to reach it: addresses, ports, Kafka credentials.

Shared by the process-backed stack (``infra``), the container-backed one (``containers``) and every tool that
connects to either.
"""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from yima_kit.kafka_auth import KafkaAuth

from . import kafka_security

LOCALHOST = "127.0.0.1"


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


def mongo_url_for(port: int) -> str:
    # journal=true: SecantusDB (like mongod) may otherwise lose the last acknowledged writes on kill -9.
    # retryWrites=false: SecantusDB keeps a record of every retryable write for 30 minutes and walks them all on
    # each write (and sorts them once there are 10,000): a write cost 0.7 ms on a fresh server, 1.9 ms after
    # 10,000 writes and 10.8 ms beyond — the platform collapsed under a burst. Without: a flat 0.6 ms (ADR 0218).
    # Every write of the services is idempotent at their level (ledger, conditional updates, upserts by id,
    # Idempotency-Key) and a transaction's commit is still retried once by the driver. Real MongoDB (compose,
    # Kubernetes, containers) keeps retryable writes.
    return f"mongodb://{LOCALHOST}:{port}/?directConnection=true&journal=true&retryWrites=false"


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `StorageTool random-uuid`).

    Like Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool's argument
    parser would take it for an option ("argument --cluster-id/-t: expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


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
