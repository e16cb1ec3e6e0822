"""The request bodies of mediation's staff API (Chinese errors come from their constraints)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.events import Phone

from ...application.insurance import COVERED


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcceptIn(_In):
    kind: Literal["people", "administrative", "judicial"] = Field(
        default="people", description="人民调解 / 行政调解 / 司法调解")


class ReturnIn(_In):
    reason: str = Field(min_length=2, max_length=1000, description="退回理由")


class PartyIn(_In):
    role: Literal["respondent", "third_party"] = "respondent"
    name: str = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    is_organisation: bool = False


class RevealIn(_In):
    reason: str = Field(default="", max_length=200, description="查看完整信息的理由（记入审计日志）")


class WindowIn(_In):
    start: datetime
    end: datetime


class AvailabilityIn(_In):
    party_id: str = Field(max_length=8)
    windows: list[WindowIn] = Field(min_length=1, max_length=50)


class RelationIn(_In):
    name: str = Field(min_length=1, max_length=100)
    relation_zh: str = Field(min_length=1, max_length=20, description="亲属 / 同事 / 代理人 / 朋友 …")


class PersonIn(_In):
    kind: Literal["mediator", "judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy",
                  "sage", "volunteer"]
    name: str = Field(min_length=1, max_length=50)
    phone: Phone | None = None
    title_zh: str | None = Field(default=None, max_length=100, description="e.g. 河南某某律师事务所律师")
    fields: list[str] = Field(default_factory=list, max_length=20, description="categories of expertise")
    relations: list[RelationIn] = Field(default_factory=list, max_length=50, description="declared relations")
    employer: str | None = Field(default=None, max_length=100)
    staff_id: str | None = Field(default=None, max_length=64, description="mediators: their staff account")


class MediatorsIn(_In):
    person_ids: list[str] = Field(min_length=1, max_length=10)


class InviteIn(_In):
    person_id: str = Field(max_length=64)
    session_id: str | None = Field(default=None, max_length=64)


class AnswerIn(_In):
    accept: bool
    reason: str | None = Field(default=None, max_length=500)


class CallIn(_In):
    kind: Literal["judge", "lawyer", "mediator", "counsellor", "police", "prosecutor"]
    party_id: str = Field(max_length=8, description="the party who calls")
    unit: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                             description="whose registry (e.g. the court centre's judges); default the case's unit")


class RoomIn(_In):
    name_zh: str = Field(min_length=1, max_length=100)


class SessionIn(_In):
    mode: Literal["online", "offline", "async"]
    format: Literal["joint", "caucus"] = "joint"
    starts_at: datetime = Field(description="start; async: when the answer window opens")
    ends_at: datetime = Field(description="end; async: when the answer window closes")
    room_id: str | None = Field(default=None, max_length=64)
    join_url: str | None = Field(default=None, max_length=500, pattern=r"^https://")
    caucus_party_id: str | None = Field(default=None, max_length=8, description="背靠背: the party met alone")
    party_order: list[str] | None = Field(default=None, max_length=10, description="async: who answers in turn")


class TurnIn(_In):
    party_id: str = Field(max_length=8)
    statement: str = Field(min_length=1, max_length=5000)


class RecordIn(_In):
    attended: list[str] = Field(default_factory=list, max_length=50, description="party ids, person ids present")
    absent: list[str] = Field(default_factory=list, max_length=20, description="party ids who did not come")
    summary: str = Field(min_length=1, max_length=5000)
    next_step: str = Field(min_length=1, max_length=300)


class AgreementIn(_In):
    facts_zh: str = Field(min_length=1, max_length=3000)
    terms: list[str] = Field(min_length=1, max_length=30)


class ConfirmIn(_In):
    party_id: str = Field(max_length=8)
    method: Literal["signature", "sms_code", "video", "in_person"]


class JudicialIn(_In):
    court_zh: str = Field(min_length=2, max_length=100)


class JudicialAnswerIn(_In):
    confirmed: bool
    ruling_no: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class FailIn(_In):
    reason: str = Field(min_length=2, max_length=500)
    next: Literal["escalate", "transfer"]


class TransferIn(_In):
    to: Literal["arbitration", "litigation", "administrative"]
    receiving_body_zh: str = Field(min_length=2, max_length=100)


class ClaimIn(_In):
    cover: Literal[COVERED]  # type: ignore[valid-type]
    claimed_fen: int = Field(gt=0, le=10_000_000_00, description="claimed sum in fen (分)")
    incident_at: datetime
    summary: str = Field(min_length=1, max_length=2000)


class DecisionIn(_In):
    approve: bool
    paid_fen: int | None = Field(default=None, gt=0, le=10_000_000_00)
    reason: str = Field(min_length=2, max_length=500)


class DisputeIn(_In):
    reason: str = Field(min_length=2, max_length=1000)


class EvaluationIn(_In):
    satisfaction: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)
