"""What risk's application layer (service.py) needs from the outside world; adapters/mongo_repo.py (the cases,
assessments, warnings and corrections) and adapters/mongo_followups.py (the follow-up timers) implement it.

A ``session`` is the caller's transaction (one unit of work per use case); ``None`` outside one. A case is kept
as one document (``Doc``): its facts (``CaseFacts`` is what the rules read of it, service.facts_of), its level
and the rules that fired, the units it sits in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from .core.warnings import CaseRef, WindowReads

Session = AsyncClientSession | None
Doc = dict[str, Any]


@dataclass(frozen=True)
class WarningState:
    """What the early-warning check reads first for a new case: when each of its warning keys was last raised,
    and when the record of cases starts — which decide what else it reads (core.warnings.reads_for)."""

    last_raised: dict[str, datetime]
    known_since: datetime | None


class RiskRepository(Protocol):
    async def setup(self) -> None: ...

    # --- a consumer's batch: a view whose cases are read at once and written at flush (ADR 0155) ---
    def in_batch(self, session: Session) -> RiskRepository: ...
    async def load_cases(self, case_ids: set[str]) -> None: ...
    async def flush(self, session: Session) -> None: ...
    async def load_submissions(self, applicant_keys: set[str], since: datetime, warning_keys: list[str]) -> None:
        """A batch's submissions read what they ask (earlier_cases since ``since``, warning_state of
        ``warning_keys``) once for all; the view answers them from that and from what the batch changed since."""
        ...


    # --- a case's facts and level (``cases``) ---
    async def case(self, case_id: str, session: Session = None, fields: list[str] | None = None) -> Doc | None: ...
    async def update_case(self, case_id: str, update: Doc, session: Session, *, upsert: bool = True) -> None: ...
    async def earlier_cases(self, applicant_key: str, category: str, since: datetime, before: datetime,
                            session: Session) -> list[str]:
        """Ids of the applicant's cases of this category in ``[since, before)``, oldest first (at most 21)."""
        ...

    async def learn_unit_paths(self, paths: dict[str, list[str]], session: Session) -> None: ...
    async def unit_path(self, unit_code: str) -> list[str] | None: ...
    async def red_cases_of_leader(self, staff_id: str, limit: int) -> list[Doc]: ...
    async def add_visit(self, case_id: str, visit: Doc) -> None: ...

    # --- assessments ---
    async def add_assessment(self, doc: Doc, session: Session) -> None: ...
    async def assessments(self, case_id: str, fields: list[str] | None = None) -> list[Doc]: ...

    # --- early warnings (``warning_index``, ``warnings``) ---
    async def index_case(self, ref: CaseRef, session: Session) -> None: ...
    async def set_indexed_category(self, case_id: str, category: str, session: Session) -> None: ...
    async def warning_state(self, new: CaseRef, keys: list[str], session: Session) -> WarningState: ...
    async def recent_cases(self, new: CaseRef, reads: WindowReads, session: Session) -> list[CaseRef]:
        """The cases before (and, read out of order, after) ``new`` that ``reads`` asks for, each once: of its
        category and place, of its respondent, of its category — each over its own look-back, by an index."""
        ...

    async def add_warning(self, doc: Doc, session: Session) -> None: ...
    def newest_warnings(self, limit: int) -> AsyncIterator[Doc]:
        """Newest first, read as far as the caller goes (at most ``limit``)."""
        ...


    # --- staff corrections ---
    async def add_correction(self, doc: Doc, session: Session) -> None: ...
    def corrections(self, lowered: bool | None, limit: int) -> AsyncIterator[Doc]:
        """Newest first, read as far as the caller goes (at most ``limit``)."""
        ...

    async def latest_corrections(self) -> list[Doc]:
        """The latest correction of each corrected case (training examples)."""
        ...


class FollowupTimers(Protocol):
    """回头看: the durable follow-up timer of a red case that closed (adapters/mongo_followups.py)."""

    async def setup(self) -> None: ...
    async def schedule(self, session: Session, *, case_id: str, correlation_id: str, due_at: datetime,
                       unit_code: str | None, leader_staff_id: str | None, reason_zh: str) -> str: ...
    async def of_case(self, case_id: str) -> Doc | None: ...
    async def visited(self, case_id: str, at: datetime) -> None:
        """A visit made before the follow-up falls due is the follow-up: the timer does not fire any more."""
        ...
