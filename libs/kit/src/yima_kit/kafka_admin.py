"""Topic administration. Topics are created by the project (auto-creation is off in production configs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int = 6, timeout: float = 30) -> None:
    """Create the missing topics (replication 1 locally; a cluster sets its own defaults) and wait for them."""
    wanted = set(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(wanted - existing)
        for i in range(0, len(missing), 50):
            chunk = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing[i : i + 50]]
            try:
                await admin.create_topics(chunk)
            except TopicAlreadyExistsError:
                pass  # a concurrent starter created them: fine
        deadline = asyncio.get_running_loop().time() + timeout
        while not wanted <= set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics not visible after {timeout}s: {sorted(wanted - existing)[:5]}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
