"""What notify's application layer (service.py, worker.py) needs from the outside world; the Mongo adapters in
adapters/mongo_repo.py (contacts and the ledger) and adapters/mongo_queue.py (the delivery queue) implement it.

A ``session`` is the caller's transaction (one unit of work per use case); ``None`` outside one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from .core.digest import InFlight

T = TypeVar("T")
Session = AsyncClientSession | None
Doc = dict[str, Any]  # a ledger entry (``notifications``): written whole at staging, read whole by the worker


@dataclass(frozen=True)
class CaseContact:
    """How to reach a case's applicant (and proxy), from ``case.submitted``; phone and openid encrypted."""

    case_number: str
    tracking_code: str = ""  # encrypted
    phone: str | None = None  # encrypted
    phone_key: str | None = None
    wechat_openid: str | None = None  # encrypted
    wechat_off: bool = False  # WeChat refused the applicant for good (ADR 0053)
    proxy_phone: str | None = None  # encrypted
    proxy_phone_key: str | None = None
    location_unit: str | None = None
    acting_unit: str | None = None
    applicant_masked: str = "申请人"
    case_id: str = ""

    @classmethod
    def of(cls, doc: Doc) -> CaseContact:
        return cls(case_number=doc["case_number"], tracking_code=doc.get("tracking_code", ""),
                   phone=doc.get("phone"), phone_key=doc.get("phone_key"), wechat_openid=doc.get("wechat_openid"),
                   wechat_off=bool(doc.get("wechat_off")), proxy_phone=doc.get("proxy_phone"),
                   proxy_phone_key=doc.get("proxy_phone_key"), location_unit=doc.get("location_unit"),
                   acting_unit=doc.get("acting_unit"), applicant_masked=doc.get("applicant_masked", "申请人"),
                   case_id=doc.get("_id", ""))

    def acting(self, unit_code: str) -> CaseContact:
        return replace(self, acting_unit=unit_code)


@dataclass(frozen=True)
class ExpertContact:
    """An invited expert's phone (encrypted), as the newest invitation gave it; ``seen_at`` None until one came."""

    person_id: str
    seen_at: datetime | None = None
    phone: str | None = None
    phone_key: str | None = None

    @classmethod
    def of(cls, doc: Doc) -> ExpertContact:
        return cls(doc["_id"], doc.get("seen_at"), doc.get("phone"), doc.get("phone_key"))


@dataclass(frozen=True)
class Waiting:
    """An event that came before the case's contacts (``pending_events``)."""

    id: str
    source: str  # the event as JSON


class Contacts(Protocol):
    """The applicants' contacts per case (``recipients``), the events waiting for them, experts and units."""

    async def save_case(self, case_id: str, fields: Doc, session: Session) -> None: ...
    async def case(self, case_id: str, session: Session = None) -> CaseContact | None: ...
    async def touch_case(self, case_id: str, session: Session) -> None:
        """Write the case's document (an event waits): a ``case.submitted`` being handled conflicts and retries."""
        ...

    async def set_acting_unit(self, case_id: str, unit_code: str, session: Session) -> None: ...
    async def set_wechat_off(self, case_id: str, session: Session) -> None: ...
    async def case_by_tracking_index(self, index: str) -> tuple[str, CaseContact] | None: ...
    async def park(self, event_id: str, case_id: str, source: str, at: datetime, session: Session) -> None: ...
    async def waiting(self, case_id: str, session: Session) -> list[Waiting]: ...
    async def unpark(self, waiting_id: str, session: Session) -> None: ...
    async def expert(self, person_id: str, session: Session) -> ExpertContact | None: ...
    async def note_expert_session(self, person_id: str, session: Session) -> None: ...
    async def learn_expert(self, person_id: str, update: Doc, session: Session) -> None: ...
    async def unit_channels(self, unit_code: str) -> dict[str, str] | None: ...
    async def set_unit_channels(self, unit_code: str, fields: dict[str, str], by: str, at: datetime) -> None: ...

    # --- a consumer's batch: a view whose contacts are read at once and written at flush (ADR 0155) ---
    def in_batch(self, session: Session) -> Contacts: ...
    async def load(self, case_ids: Iterable[str], *, waiting: bool, session: Session) -> None: ...
    async def flush(self) -> None: ...


class Ledger(Protocol):
    """One entry per (source event, recipient, channel) (``notifications``): staging and the staff's reads."""

    async def insert_new(self, doc: Doc, session: Session) -> bool:
        """Write the entry unless its ``_id`` exists (one upsert); False when it was there already."""
        ...

    async def add_new(self, doc: Doc, session: Session, on_new: Callable[[], None]) -> None:
        """Write the entry unless its ``_id`` exists, and then call ``on_new`` (in a batch's view: at flush)."""
        ...

    def in_batch(self, session: Session) -> Ledger: ...
    async def flush(self) -> None: ...
    async def withdraw_invitation_texts(self, invitation_id: str, newer_event_id: str, session: Session) -> None: ...
    async def awaiting_contact(self, person_id: str, session: Session) -> list[Doc]: ...
    async def resolve_awaiting(self, nid: str, change: Doc, session: Session) -> None: ...
    async def inbox(self, query: Doc, limit: int) -> list[Doc]: ...
    async def mark_read(self, unit_code: str, nid: str, at: datetime) -> bool: ...
    async def failed(self, unit_code: str, limit: int) -> list[Doc]: ...
    async def states(self, ids: list[str]) -> dict[str, str]: ...


class NotifyRepository(Protocol):
    @property
    def contacts(self) -> Contacts: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def queue(self) -> DeliveryQueue: ...
    @property
    def lockout(self) -> CheckGuard:
        """The tracking-code lockout of the applicant's inbox."""
        ...

    async def setup(self) -> None: ...


class CheckGuard(Protocol):
    """The tracking-code lockout (yima_kit.throttle.CheckThrottle): counts a check before it runs."""

    async def guard(self, code_key: str, client: str, now: datetime,
                    check: Callable[[], Awaitable[tuple[T, bool | None]]]) -> tuple[T, bool | None]: ...


class ClaimLocked(Exception):
    """A stale claim that an open transaction holds (its dead worker's, say marking it delivered): it cannot be
    taken over until the database aborts that transaction."""


class DeliveryQueue(Protocol):
    """The ledger as the delivery worker sees it: claims by owner, batches, the per-person send times."""

    async def next_due(self, channel: str, before: datetime) -> datetime | None:
        """When the earliest queued message of ``channel`` due before ``before`` is due (None: none is). Bounded on
        purpose: held texts (a digest window, quiet hours) can be thousands, and what the loop needs to know is only
        whether one comes due before it would look again anyway."""
        ...

    def bounded(self, seconds: float) -> AbstractContextManager[None]:
        """Every call made inside the block fails (server and client side) once ``seconds`` have passed."""
        ...

    async def oldest_claim(self, channel: str, skip: Collection[str] = ()) -> tuple[str, datetime] | None:
        """The id and claim time of the channel's oldest claim (``sending``), leaving out ``skip``."""
        ...

    async def take_over(self, nid: str, expired_before: datetime, mine: Doc) -> Doc | None:
        """Make the claim ``nid`` (expired before ``expired_before``) and its batch this worker's, in one short
        transaction; None when it is no longer an expired claim. Raises ClaimLocked when another transaction
        holds it (its worker died inside one), at once, instead of waiting for that transaction to end."""
        ...

    async def claim_batch(self, batch_id: str, mine: Doc, *, state: str) -> None: ...
    async def due_ids(self, channel: str, now: datetime, limit: int) -> list[str]: ...
    async def claim_ids(self, ids: list[str], mine: Doc) -> list[Doc]: ...
    async def due(self, channel: str, now: datetime, limit: int) -> list[Doc]: ...
    async def in_flight_many(self, channel: str, address_keys: list[str]) -> dict[str, list[InFlight]]: ...
    async def last_sent_many(self, channel: str, address_keys: list[str]) -> dict[str, datetime]: ...
    async def hold(self, until: dict[datetime, list[str]]) -> None: ...
    async def claim_people(self, channel: str, now: datetime, mine: Doc, gather: dict[str, str],
                           alone: list[str]) -> list[Doc]: ...
    async def set_batches(self, owner: str, batches: dict[str, list[str]]) -> None: ...
    async def claim_next(self, channel: str, now: datetime, mine: Doc) -> Doc | None: ...
    async def in_flight(self, channel: str, address_key: str) -> list[InFlight]: ...
    async def last_sent(self, channel: str, address_key: str) -> datetime | None: ...
    async def gather(self, channel: str, address_key: str, now: datetime, batch_id: str, mine: Doc) -> int: ...
    async def set_batch(self, nid: str, owner: str, batch_id: str) -> None: ...
    async def release(self, nid: str, owner: str, not_before: datetime) -> None: ...
    async def members(self, batch_id: str, owner: str) -> list[Doc]: ...
    async def mark_delivered(self, owner: str, ids: list[str], at: datetime, session: Session) -> set[str]: ...
    async def note_sent(self, channel: str, address_keys: list[str], at: datetime, session: Session) -> None: ...
    async def requeue(self, owner: str, ids: list[str], change: Doc) -> None: ...
    async def mark_failed(self, nid: str, owner: str, change: Doc, session: Session) -> bool: ...
    async def note_fallback(self, nid: str, fallback: Doc, session: Session) -> None: ...


# --- the outside channels (adapters/channels.py) -------------------------------------------------------------

class DeliveryError(Exception):
    pass


class TransientError(DeliveryError):
    """Timeouts, connection refused, 5xx, 429: try again later."""


class PermanentError(DeliveryError):
    """4xx, a rejected address: retrying cannot help."""


@dataclass(frozen=True)
class Message:
    key: str  # idempotency key
    address: str  # phone, openid, e-mail address or webhook URL
    title: str
    text: str
    template_id: str
    meta: dict[str, Any]  # case_id, case_number, notification ids, source event … (no personal data)


class Channel(Protocol):
    name: str

    async def send(self, msg: Message) -> None: ...
