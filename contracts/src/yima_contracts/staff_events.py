"""Events about staff accounts (not about a case): what every service must know to refuse a token at once.

Routing owns the accounts and issues the tokens; every service verifies them with the public keys alone
(``yima_kit.auth``). A token names its session (``sid``): when routing ends a session before its tokens expire
— logout, a password change or reset, a deactivation, a role or unit change — it broadcasts the session ids on
``staff.session_revoked``, and every replica of every service keeps them in memory until ``valid_until``
(docs/adr/0130-session-revocations-broadcast.md).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .events import Event, UtcDatetime

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN, description="a token's sid claim")]


class StaffSessionRevoked(Event):
    """Sessions of one staff member ended before their tokens expire: refuse every token that names one of
    ``session_ids`` until ``valid_until``. ``case_id`` (the partition key) is the staff id here: one member's
    revocations stay in order. Only routing may write the topic (Kafka ACL)."""

    EVENT_TYPE: ClassVar[str] = "staff.session_revoked.v1"
    event_type: Literal["staff.session_revoked.v1"] = "staff.session_revoked.v1"

    staff_id: str = Field(min_length=1, max_length=64)
    session_ids: list[SessionId] = Field(min_length=1, max_length=1000)
    reason: Literal["logout", "password_changed", "account_changed", "other"] = Field(
        description="logout; password_changed (by the holder, or reset by an admin); account_changed (deactivated, "
        "moved to another unit or role); other")
    valid_until: UtcDatetime = Field(
        description="the latest expiry of any token of these sessions: after it the tokens are refused as expired, "
        "so a verifier forgets the ids then")


MODELS = (StaffSessionRevoked,)
