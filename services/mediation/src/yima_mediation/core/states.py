"""The states of a case inside mediation and the moves between them, in one place.
An illegal move is refused with a clear error, never silently applied."""

from __future__ import annotations

NEW, ACCEPTED, RETURNED, IN_MEDIATION, PAUSED = "new", "accepted", "returned", "in_mediation", "paused"
AGREED, FAILED, ESCALATED, TRANSFERRED, CLOSED = "agreed", "failed", "escalated", "transferred", "closed"

STATE_ZH = {
    NEW: "待受理", ACCEPTED: "已受理", RETURNED: "已退回", IN_MEDIATION: "调解中", PAUSED: "暂停（等待当事人）",
    AGREED: "已达成协议", FAILED: "调解不成", ESCALATED: "已提交上级", TRANSFERRED: "已转出", CLOSED: "已办结",
}

MOVES: dict[str, frozenset[str]] = {
    "accept": frozenset({NEW}),
    "return": frozenset({NEW}),
    "assign_mediators": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "add_party": frozenset({NEW, ACCEPTED, IN_MEDIATION, PAUSED}),
    "invite": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "answer_invitation": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),  # an answer after the outcome means nothing
    "schedule": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "record": frozenset({IN_MEDIATION, PAUSED, AGREED, FAILED}),
    "draft_agreement": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "sign": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "judicial": frozenset({AGREED}),
    "close": frozenset({AGREED}),
    "fail": frozenset({ACCEPTED, IN_MEDIATION, PAUSED}),
    "transfer": frozenset({FAILED}),
}


class IllegalMove(ValueError):
    """A move the case's state does not allow (the one domain error: HTTP answers 409 ``illegal_transition``)."""

    def __init__(self, move: str, state: str, message: str | None = None) -> None:
        super().__init__(message or f"案件当前状态为「{STATE_ZH.get(state, state)}」，不能进行此操作")
        self.move = move
        self.state = state


def check(move: str, state: str) -> None:
    if state not in MOVES[move]:
        raise IllegalMove(move, state)
