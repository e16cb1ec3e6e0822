"""Insight's consumers: every case, risk, routing, mediation, rating and notify event, one idempotent
consumer per topic (the kit's ledger + dead-letter topic), all applied the same way."""

from __future__ import annotations

from yima_contracts import Event, topics
from yima_contracts.registry import TOPIC_EVENTS
from yima_kit.consumer import EventConsumers, Tx

from ..service import InsightService

# Every unit's work-order topic: the unit's path (its ancestors) and handling mode travel on its orders.
WORK_ORDERS = r"unit\..+\.cases"
UNIT_TOPIC_KEY = "unit.{unit_code}.cases"


def consumed_topics() -> list[str]:
    """The topics insight reads (the unit topics by pattern besides)."""
    return [t for t in TOPIC_EVENTS if t != UNIT_TOPIC_KEY]


def register(consumers: EventConsumers, service: InsightService) -> None:
    def handler_for(topic: str) -> object:
        async def handle(event: Event, tx: Tx) -> None:
            await service.on_event(event, tx)

        handle.__doc__ = f"Count {topic} into the case's fact and the one table's counters (exactly once)."
        return handle

    for topic in consumed_topics():
        (model,) = TOPIC_EVENTS[topic]
        consumers.subscribe(topic, model, name=topic.replace(".", "_"))(handler_for(topic))  # type: ignore[arg-type]
    (order_model,) = TOPIC_EVENTS[UNIT_TOPIC_KEY]
    consumers.subscribe(WORK_ORDERS, order_model, name="work_orders", pattern=True)(  # type: ignore[arg-type]
        handler_for("unit.<unit_code>.cases"))


__all__ = ["WORK_ORDERS", "consumed_topics", "register", "topics"]
