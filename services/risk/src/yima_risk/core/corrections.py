"""Staff corrections of a risk level (pure): which way it went, and whether it still stands.

A correction stands until new facts make the rules' own level higher than it was when staff corrected it (a new
red fact is not hidden by an earlier correction); resolution makes the case blue as always. A correction that
lowers the level is flagged for the supervisor (``lowered``) on the event, the case and the assessment view.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from yima_contracts.codes import RISK_LEVEL_NAMES_ZH, RiskLevel

from .rules import Assessment

Direction = Literal["raised", "lowered", "confirmed"]
_RANK = {RiskLevel.BLUE: 0, RiskLevel.YELLOW: 1, RiskLevel.RED: 2}
MIN_REASON = 4  # characters: "同意" is not a reason


def direction_of(new: RiskLevel, previous: RiskLevel) -> Direction:
    if _RANK[new] > _RANK[previous]:
        return "raised"
    return "lowered" if _RANK[new] < _RANK[previous] else "confirmed"


def check_reason(reason_zh: str) -> str:
    reason = " ".join(reason_zh.split())
    if len(reason) < MIN_REASON:
        raise ValueError(f"更正风险等级须说明理由（至少{MIN_REASON}个字） (a correction needs a reason)")
    if len(reason) > 300:
        raise ValueError("理由不超过300字 (reason too long)")
    return reason


@dataclass(frozen=True)
class Correction:
    level: RiskLevel
    rules_level: RiskLevel  # the rules' own level when staff corrected it
    previous_level: RiskLevel
    direction: Direction
    reason_zh: str
    staff_id: str
    at: datetime

    @property
    def lowered(self) -> bool:
        return self.direction == "lowered"

    def applies(self, a: Assessment) -> bool:
        return a.stage != "resolved" and _RANK[a.own_level] <= _RANK[self.rules_level]

    def to_doc(self) -> dict[str, Any]:
        return {"level": self.level.value, "rules_level": self.rules_level.value,
                "previous_level": self.previous_level.value, "direction": self.direction, "lowered": self.lowered,
                "reason_zh": self.reason_zh, "staff_id": self.staff_id, "at": self.at}

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> Correction | None:
        if not doc:
            return None
        return cls(RiskLevel(doc["level"]), RiskLevel(doc["rules_level"]), RiskLevel(doc["previous_level"]),
                   doc["direction"], doc["reason_zh"], doc["staff_id"], doc["at"])


def apply_correction(a: Assessment, c: Correction | None) -> Assessment:
    """The level staff set, while it stands; the rules' reason stays part of the answer."""
    if c is None or not c.applies(a):
        return a
    names = RISK_LEVEL_NAMES_ZH
    flag = "（人工调低，须主管知悉）" if c.lowered else ""
    reason = f"工作人员更正为{names[c.level]}色{flag}：{c.reason_zh}。规则评估：{a.reason_zh}"
    return replace(a, level=c.level, reason_zh=reason[:499] + "…" if len(reason) > 500 else reason)
