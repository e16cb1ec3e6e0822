"""A mediation case's stage and the one way it moves (docs/adr/0100): every state change of the service goes
through :meth:`MediationCase.move`, which refuses an illegal move with :class:`IllegalMove` (answered 409
``illegal_transition`` by the HTTP layer, in one place). The moves and their states are in :mod:`.states`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .states import MOVES, IllegalMove


@dataclass(frozen=True)
class Step:
    """A move found legal: from the state it was checked against (the compare-and-set's guard) to ``to``."""

    move: str
    from_state: str
    to: str

    @property
    def changes_state(self) -> bool:
        return self.to != self.from_state


@dataclass(frozen=True)
class MediationCase:
    assignment_id: str
    state: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> MediationCase:
        return cls(doc["_id"], doc["state"])

    def may(self, move: str) -> bool:
        return self.state in MOVES[move]

    def move(self, move: str, to: str | None = None, refusal_zh: str | None = None) -> Step:
        """The step ``move`` makes (to ``to``, or staying where it is), or :class:`IllegalMove` with
        ``refusal_zh`` (default: the state named in Chinese)."""
        if not self.may(move):
            raise IllegalMove(move, self.state, refusal_zh)
        return Step(move, self.state, to or self.state)


__all__ = ["IllegalMove", "MediationCase", "Step"]
