"""Insight's consumers: every case, risk, routing, mediation, rating and notify event, through the kit's
idempotent consumer (ledger + dead-letter topic). Two consumers in all: one reads the platform topics, one
the units' topics (work orders and feedback, by pattern); each event is parsed by its ``event_type`` and
applied the same way. (One consumer per topic would be 24 members of one group: every start or new unit topic
would make all of them rebalance.)"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter
from yima_contracts import Event
from yima_contracts.registry import EVENT_MODELS, TOPIC_EVENTS
from yima_kit.consumer import EventConsumers, Tx

from ..service import InsightService

# Every unit's topics: its work orders (the unit's path and handling mode travel on them) and its own systems'
# answers on unit.<code>.feedback (ADR 0071).
UNIT_TOPICS = r"unit\..+\.(cases|feedback)"
WORK_ORDERS = UNIT_TOPICS  # kept for the rebuild's topic listing
UNIT_TOPIC_KEYS = ("unit.{unit_code}.cases", "unit.{unit_code}.feedback")

_ANY: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[tuple(EVENT_MODELS)], Field(discriminator="event_type")]  # type: ignore[arg-type,valid-type]  # noqa: UP007
)


class AnyEvent(Event):
    """Any of the platform's events, told apart by ``event_type`` (what the platform consumer reads)."""

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _ANY.validate_json(json_data)

    @classmethod
    def model_json_schema(cls, *args: Any, ref_template: str = "#/$defs/{model}", **kwargs: Any) -> Any:
        return _ANY.json_schema(ref_template=ref_template)


def consumed_topics() -> tuple[str, ...]:
    """The platform topics insight reads (the unit topics by pattern besides); not the staff accounts' topics,
    which say nothing about a case."""
    return tuple(t for t in TOPIC_EVENTS
                 if t not in UNIT_TOPIC_KEYS and not t.startswith(("unit.", "staff.")))


def register(consumers: EventConsumers, service: InsightService) -> None:
    # Both consumers write the same counter documents (the district's, every day's): their batches go one after
    # the other instead of conflicting and redoing whole batches.
    consumers.one_batch_at_a_time()
    @consumers.subscribe_batch(consumed_topics(), AnyEvent, name="events")
    async def on_events(events: list[AnyEvent], tx: Tx) -> None:
        """Count every case, risk, routing, mediation, rating and notify event into its case's fact and the one
        table's counters (exactly once: the kit's ledger), a poll's events in a few bulk writes."""
        await service.on_events(events, tx)

    # Its own group: a pattern over every unit's topics (two per unit) rebalances whenever routing creates one;
    # in the main group that would stall the platform topics' consumer each time.
    @consumers.subscribe_batch(UNIT_TOPICS, AnyEvent, name="work_orders", pattern=True,
                               group_id="yima-insight-units")
    async def on_unit_topics(events: list[AnyEvent], tx: Tx) -> None:
        """Units' work orders (the unit's path, whether it works in yima's console) and their own systems'
        answers on unit.<code>.feedback."""
        await service.on_events(events, tx)
