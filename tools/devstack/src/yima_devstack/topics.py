"""Creating the platform's Kafka topics (auto-creation is off on every broker we run)."""

from __future__ import annotations

from yima_contracts.topics import PLATFORM_TOPICS
from yima_kit.kafka_admin import DEFAULT_PARTITIONS, ensure_topics

__all__ = ["DEFAULT_PARTITIONS", "ensure_topics", "platform_topics"]


def platform_topics() -> tuple[str, ...]:
    """Topics every deployment needs before the services start (unit topics are created by routing)."""
    return PLATFORM_TOPICS
