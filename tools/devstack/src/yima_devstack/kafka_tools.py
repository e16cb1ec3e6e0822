"""Plain-Kafka helpers for tests and demos: they act as a department's system would, with raw JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from yima_kit.kafka_auth import KafkaAuth, client_kwargs

Records = list[ConsumerRecord[bytes, bytes]]


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float = 60, interval: float = 0.3) -> Any:
    """Poll ``await predicate()`` until it is truthy and return that value; TimeoutError after ``timeout`` s.

    For what is not on a topic (an HTTP view, a database row): the platform is asynchronous, so a test
    waits for the state it expects rather than sleeping a guessed time.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met after {timeout}s")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[Records], Any], timeout: float = 60, *, auth: KafkaAuth | None = None
) -> Any:
    """Read ``topic`` from the beginning until ``until(records)`` is truthy, and return that value.
    ``auth``: whose credentials (None: the ``YIMA_KAFKA_…`` environment, the tests' super user)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs(auth))
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        # The topic may not exist yet (routing creates a unit's topic right before its first assignment).
        while True:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if tps:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic}: topic does not exist after {timeout}s")
            await asyncio.sleep(0.3)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: Records = []
        while True:
            for recs in (await consumer.getmany(timeout_ms=300)).values():
                seen.extend(recs)
            result = until(seen)
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s ({len(seen)} records seen)")
    finally:
        await consumer.stop()


async def dump_topic(
    bootstrap: str, topic: str, idle: float = 2.0, timeout: float = 60, *, auth: KafkaAuth | None = None
) -> Records:
    """Everything on ``topic`` so far: read from the beginning until nothing new came for ``idle`` seconds."""
    loop = asyncio.get_running_loop()
    last = {"n": -1, "at": loop.time()}

    def quiet(records: Records) -> Records | None:
        if len(records) != last["n"]:
            last["n"], last["at"] = len(records), loop.time()
            return None
        return records if loop.time() - last["at"] >= idle else None

    result: Records = await read_topic(bootstrap, topic, quiet, timeout=timeout, auth=auth)
    return result


def keyed(key: str, at_least: int = 1) -> Callable[[Records], Records | None]:
    """A condition for :func:`read_topic`: the records with this key, once there are ``at_least`` of them."""

    def pick(records: Records) -> Records | None:
        mine = [r for r in records if r.key == key.encode()]
        return mine if len(mine) >= at_least else None

    return pick


async def produce(
    bootstrap: str, topic: str, key: str, value: bytes | dict[str, Any], headers: list[tuple[str, bytes]] | None = None,
    *, auth: KafkaAuth | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_kwargs(auth))
    await producer.start()
    try:
        body = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        await producer.send_and_wait(topic, body, key=key.encode(), headers=headers or [])
    finally:
        await producer.stop()

