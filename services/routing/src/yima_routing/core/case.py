"""A case as routing keeps it (collection ``cases``): the facts of ``case.submitted`` (personal data encrypted),
its risk, the current assignment, and what waits for the supervisor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import Category, Channel, RiskLevel

from .rules import CaseFacts


class Facts(BaseModel):
    model_config = ConfigDict(extra="ignore")

    case_number: str
    channel: str
    category: str
    description: str  # encrypted (context routing.description)
    applicant_name: str  # encrypted
    applicant_phone: str  # encrypted
    location_unit_code: str | None = None
    located_unit_code: str | None = None  # found from the address when no unit was given
    address: str | None = None  # encrypted
    party_count: int | None = None
    amount_yuan: float | None = None
    correlation_id: str
    submitted_at: datetime | None = None
    court_reference: str | None = None


class PendingDispatch(BaseModel):
    """退回: the case waits at its supervisor for re-dispatch."""

    model_config = ConfigDict(extra="ignore")

    supervisor_unit_code: str
    returned_by: str
    assignment_id: str
    reason: str | None = None
    at: datetime
    remind_at: datetime
    reminded: bool = False
    claimed_until: datetime | None = None  # the sweeper's lease on the reminder


class Case(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(alias="_id")
    facts: Facts | None = None
    risk: dict[str, Any] | None = None  # {"level", "event_id"}
    assigned: str | None = None  # the current assignment's id
    assigned_unit: str | None = None
    round: int | None = None
    routed: bool = False
    ended: dict[str, Any] | None = None  # {"how", "at"}
    leader: dict[str, Any] | None = None  # 分包领导 {"staff_id", "name", "unit_code", "at"}
    pending_dispatch: PendingDispatch | None = None
    excluded_units: list[str] = []  # units that returned it
    escalations: list[dict[str, Any]] = []

    @property
    def risk_level(self) -> RiskLevel | None:
        return RiskLevel(self.risk["level"]) if self.risk else None

    @property
    def correlation_id(self) -> str:
        return self.facts.correlation_id if self.facts else self.id

    def rule_input(self, *, exclude: bool = False) -> CaseFacts | None:
        """What the routing rules decide on (None until both the facts and the risk are known); ``exclude``:
        without the units that returned the case."""
        f, risk = self.facts, self.risk_level
        if f is None or risk is None:
            return None
        return CaseFacts(Channel(f.channel), Category(f.category), risk,
                         f.location_unit_code or f.located_unit_code, f.party_count, f.amount_yuan,
                         frozenset(self.excluded_units) if exclude else frozenset())
