"""Mediation's consumers. Walking skeleton: keep every assignment in the assigned unit's work queue, the
start of acceptance inside the platform (the mediation issue adds accept/return, sessions, agreements)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import CaseAssigned, topics
from yima_kit.consumer import EventConsumers, Tx


def register(consumers: EventConsumers, db: AsyncDatabase[Any]) -> None:
    @consumers.subscribe(topics.CASE_ASSIGNED, CaseAssigned, name="work_queue")
    async def on_case_assigned(event: CaseAssigned, tx: Tx) -> None:
        """Put a new assignment into its unit's work queue."""
        await db["work_queue"].insert_one(
            {"_id": event.assignment_id, "case_id": event.case_id, "unit_code": event.unit_code,
             "category": event.category.value, "risk_level": event.risk_level.value,
             "due_at": event.due_at, "state": "new"},
            session=tx.session,
        )
