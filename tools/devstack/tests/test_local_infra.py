"""The development infrastructure itself: real Kafka, the MongoDB-protocol server, and LocalInfra."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError
from typer.testing import CliRunner
from yima_contracts.topics import CASE_SUBMITTED
from yima_devstack import infra as infra_module
from yima_devstack.cli import app
from yima_devstack.infra import Endpoints, LocalInfra
from yima_devstack.readiness import wait_for_kafka, wait_for_mongo
from yima_devstack.topics import ensure_topics, platform_topics
from yima_kit.kafka_auth import client_kwargs

pytestmark = pytest.mark.integration

CONSUME_TIMEOUT_S = 30.0


async def _consume_until(consumer: AIOKafkaConsumer, key: bytes, count: int) -> list[Any]:
    """Read from the group-subscribed consumer until ``count`` records with ``key`` arrived."""
    found: list[Any] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(found) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        found += [r for records in batches.values() for r in records if r.key == key]
    return found


async def test_platform_topics_exist(yima_infra: Endpoints) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await admin.start()
    try:
        assert set(platform_topics()) <= set(await admin.list_topics())
    finally:
        await admin.close()


async def test_keyed_message_round_trip(yima_infra: Endpoints) -> None:
    key = f"case-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs(), acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        first = await producer.send_and_wait(CASE_SUBMITTED, b'{"n": 1}', key=key)
        second = await producer.send_and_wait(CASE_SUBMITTED, b'{"n": 2}', key=key)
    finally:
        await producer.stop()
    assert first.partition == second.partition, "one key must always land on one partition"

    consumer = AIOKafkaConsumer(
        CASE_SUBMITTED,
        bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs(),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records = await _consume_until(consumer, key, 2)
    finally:
        await consumer.stop()
    assert [r.value for r in records] == [b'{"n": 1}', b'{"n": 2}']
    assert [r.offset for r in records] == [first.offset, second.offset]


async def test_ensure_topics_is_idempotent(yima_infra: Endpoints) -> None:
    name = f"test.idempotent.{uuid.uuid4().hex[:8]}"
    await ensure_topics(yima_infra.kafka_bootstrap, [name], partitions=3)
    await ensure_topics(yima_infra.kafka_bootstrap, [name, name], partitions=3)
    admin = AIOKafkaAdminClient(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 3


async def test_mongo_transaction_and_unique_index(yima_infra: Endpoints, mongo_db_prefix: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        db = client[f"{mongo_db_prefix}devstack"]
        await db.cases.create_index("case_no", unique=True)

        async with client.start_session() as session, await session.start_transaction():
            await db.cases.insert_one({"case_no": "C-1"}, session=session)
            await db.outbox.insert_one({"case_no": "C-1", "topic": CASE_SUBMITTED}, session=session)

        with pytest.raises(RuntimeError):  # an exception inside the block aborts the transaction
            async with client.start_session() as session, await session.start_transaction():
                await db.cases.insert_one({"case_no": "C-2"}, session=session)
                raise RuntimeError("abort")

        assert await db.cases.count_documents({}) == 1
        assert await db.outbox.count_documents({"case_no": "C-1"}) == 1

        with pytest.raises(DuplicateKeyError) as duplicate:
            await db.cases.insert_one({"case_no": "C-1"})
        assert duplicate.value.code == 11000
    finally:
        await client.drop_database(f"{mongo_db_prefix}devstack")
        await client.close()


def test_second_install_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    LocalInfra(tmp_path).install()  # a no-op when the session fixture already installed

    calls: list[Any] = []

    def forbidden(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise AssertionError(f"install() ran a process although everything is installed: {args}")

    monkeypatch.setattr(subprocess, "run", forbidden)  # every room of the devstack (installer, processes)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    started = time.monotonic()
    LocalInfra(tmp_path).install()
    assert calls == []
    assert time.monotonic() - started < 1.0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_reuse_and_stop(tmp_path: Path) -> None:
    infra = LocalInfra(tmp_path / "infra")
    infra.install()
    try:
        endpoints = infra.start()
        pids = infra.pids()
        assert all(pid is not None and _process_exists(pid) for pid in pids.values())
        assert endpoints.kafka_bootstrap.startswith("127.0.0.1:")
        assert endpoints.mongo_url.startswith("mongodb://127.0.0.1:")

        # A second start from the same state directory reuses the running servers.
        assert LocalInfra(tmp_path / "infra").start() == endpoints
        assert infra.pids() == pids
        assert infra.status().running
    finally:
        infra.stop()

    assert not infra.status().running
    assert infra.pids() == {"kafka": None, "mongo": None}
    for pid in pids.values():
        assert pid is not None and not _process_exists(pid), f"process {pid} survived stop()"


def test_start_fails_loudly_with_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broker that cannot start is reported with the tail of its log, not with a bare timeout."""
    infra = LocalInfra(tmp_path / "infra", ready_timeout=60)
    infra.install()
    monkeypatch.setattr(infra_module, "KAFKA_HEAP", "-Xmx1k")  # the JVM refuses to start with this heap
    with pytest.raises(infra_module.InfraError, match=r"(?s)kafka:.*last lines of .*kafka\.log") as failure:
        infra.start()
    assert "heap" in str(failure.value).lower()
    assert infra.pids() == {"kafka": None, "mongo": None}, "a failed start must stop what it started"


def test_readiness_probes_answer(yima_infra: Endpoints) -> None:
    wait_for_kafka(yima_infra.kafka_bootstrap, 10)
    wait_for_mongo(yima_infra.mongo_url, 10)


def test_cli_status_of_a_stopped_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["infra-status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "kafka: stopped" in result.output
    assert "mongo: stopped" in result.output


async def test_cli_topics_create(yima_infra: Endpoints) -> None:
    name = f"test.cli.{uuid.uuid4().hex[:8]}"
    args = ["topics-create", name, "--bootstrap", yima_infra.kafka_bootstrap, "--partitions", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    admin = AIOKafkaAdminClient(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2
