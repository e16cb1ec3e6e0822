"""Readiness checks that use the real client protocols (never sleeps standing in for "probably up").

Used for the local servers, for containers and for addresses given in the environment alike.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient
from yima_kit.kafka_auth import KafkaAuth, client_kwargs

from ._aio import run_sync

POLL_INTERVAL_S = 0.25


class NotReadyError(RuntimeError):
    """The server did not answer in time, or its process exited while we waited."""


def _always_running() -> bool:
    return True


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _first_address(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


async def _kafka_answers(bootstrap: str, auth: KafkaAuth | None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **client_kwargs(auth))
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        # A KRaft broker accepts connections before it has registered with its controller.
        if not cluster.get("brokers"):
            raise NotReadyError("no broker registered yet")
        await admin.list_topics()
    finally:
        await admin.close()


async def _wait_for_kafka(
    bootstrap: str, wait_s: float, still_running: Callable[[], bool], auth: KafkaAuth | None
) -> None:
    host, port = _first_address(bootstrap)
    deadline = time.monotonic() + wait_s
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if not still_running():
            raise NotReadyError(f"Kafka process exited before {bootstrap} became ready")
        # Probe the port first: aiokafka logs an ERROR line for every refused bootstrap attempt.
        if tcp_open(host, port):
            try:
                await _kafka_answers(bootstrap, auth)
                return
            except Exception as exc:
                last_error = exc
        await asyncio.sleep(POLL_INTERVAL_S)
    raise NotReadyError(f"Kafka at {bootstrap} not ready after {wait_s:.0f} s (last error: {last_error!r})")


def wait_for_kafka(
    bootstrap: str, timeout: float, still_running: Callable[[], bool] = _always_running, *,
    auth: KafkaAuth | None = None,
) -> None:
    """Block until describe-cluster and list-topics succeed against ``bootstrap`` (with ``auth``; None: the
    ``YIMA_KAFKA_…`` environment)."""
    run_sync(_wait_for_kafka(bootstrap, timeout, still_running, auth))


def _mongo_answers(url: str) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000) as client:
        client.admin.command("ping")
        # Transactions need a primary; a replica set that was just initiated takes a moment to elect one.
        if not client.admin.command("hello").get("isWritablePrimary"):
            raise NotReadyError("server answers but is not a writable primary yet")


def wait_for_mongo(url: str, timeout: float, still_running: Callable[[], bool] = _always_running) -> None:
    """Block until ``ping`` succeeds and the server is a writable primary."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if not still_running():
            raise NotReadyError("MongoDB-protocol server process exited before it became ready")
        try:
            _mongo_answers(url)
            return
        except Exception as exc:
            last_error = exc
        time.sleep(POLL_INTERVAL_S)
    # The URL carries no credentials in any of our setups, but report only host-level facts anyway.
    raise NotReadyError(f"MongoDB not ready after {timeout:.0f} s (last error: {last_error!r})")
