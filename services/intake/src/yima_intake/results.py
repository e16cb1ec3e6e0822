"""What intake's use cases answer and how they refuse (the adapters turn these into HTTP, pages or Open311)."""

from __future__ import annotations

from dataclasses import dataclass

from yima_contracts.codes import CaseState


@dataclass(frozen=True)
class Submitted:
    case_id: str
    case_number: str
    tracking_code: str | None  # None when the answer is an earlier case (the code was given then)
    created: bool
    category: str
    sub_item: str | None
    needs_review: bool
    repeat: bool = False  # this submission was linked to an earlier case as a repeat report
    repeat_count: int = 1
    state: str = CaseState.SUBMITTED.value


class IdempotencyConflict(Exception):
    """The same Idempotency-Key was used for a different submission."""


class StaffRequired(Exception):
    """A staff channel without a valid staff token."""


class StaffForbidden(Exception):
    """A staff token whose role may not use this channel."""


class TrackLocked(Exception):
    def __init__(self, wait_zh: str) -> None:
        super().__init__(wait_zh)
        self.wait_zh = wait_zh

    def message_zh(self) -> str:
        return f"核对失败次数过多，请{self.wait_zh}后再试"


class TrackNotFound(Exception):
    pass


class RatingRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
