"""What staff read (the HTTP adapters' queries): a unit's queue, a case with its rounds, the slip's data, and
what a rule change would do to recent cases. Access is checked by the caller (adapters/http)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..core.assignment import Assignment
from ..core.case import Case
from ..core.rules import RuleSet, decide
from .supervising import Supervising

_RISK_ORDER = {"red": 0, "yellow": 1, "blue": 2}


class Views(Supervising):
    async def queue(self, code: str, *, supervised: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A unit's open assignments (red, overdue and new first) and, for its supervisor's view, the returned
        cases waiting for it to re-dispatch them (with what the rules would choose now)."""
        now = self.now()
        items = [self._queue_item(a, now) for a in await self.assignments.open_of_unit(
            code, supervised=supervised, limit=500)]
        items.sort(key=lambda i: (_RISK_ORDER.get(i["risk_level"], 3), not i["overdue"], not i["new"], i["due_at"]))
        returned = [self._returned_item(c) for c in await self.cases.awaiting_redispatch(code, 200)] \
            if supervised else []
        return items, returned

    def _queue_item(self, a: Assignment, now: Any) -> dict[str, Any]:
        return {
            "assignment_id": a.id, "case_id": a.case_id, "case_number": a.case_number,
            "unit_code": a.unit_code, "supervisor_unit_code": a.supervisor_unit_code,
            "category": a.category, "risk_level": a.risk_level, "state": a.state,
            "new": a.state == "assigned", "overdue": a.overdue(now), "paused": a.paused,
            "due_at": a.due_at, "assigned_at": a.assigned_at, "round": a.round,
            "supervision_done": a.sup_done, "due_provisional": a.due_provisional, "pause_reason": a.pause_reason,
            "working_days_left": a.working_days_left(now, self.calendar), "urged": a.urged(),
        }

    def _returned_item(self, c: Case) -> dict[str, Any]:
        p, f = c.pending_dispatch, c.facts
        assert p is not None and f is not None
        suggested = self.suggest_decision(c)
        return {"case_id": c.id, "case_number": f.case_number, "category": f.category,
                "risk_level": c.risk_level.value if c.risk_level else None,
                "returned_by": p.returned_by, "reason": p.reason, "at": p.at, "excluded_units": c.excluded_units,
                "suggested_unit_code": suggested.unit.code if suggested else None,
                "suggested_rule_id": suggested.rule_id if suggested else None,
                "suggested_reason_zh": suggested.reason_zh if suggested else None}

    async def case_and_rounds(self, case_id: str) -> tuple[Case | None, list[Assignment]]:
        return await self.cases.get(case_id), await self.assignments.of_case(case_id)

    async def assignment(self, assignment_id: str) -> Assignment | None:
        return await self.assignments.get(assignment_id)

    async def case(self, case_id: str) -> Case | None:
        return await self.cases.get(case_id)

    async def dry_run(self, new: RuleSet, days: int) -> dict[str, Any]:
        """Each case submitted in the past ``days``, decided by the active rules and by ``new``: which would go
        elsewhere. Nothing is written."""
        d, old = self.directory, self.rules
        total, changed = 0, list[dict[str, Any]]()
        for c in await self.cases.decided_since(self.now() - timedelta(days=days), 20000):
            facts = c.rule_input()
            if facts is None or c.facts is None:
                continue
            a, b = decide(facts, old, d), decide(facts, new, d)
            total += 1
            if (a.unit.code, a.rule_id, a.working_days) != (b.unit.code, b.rule_id, b.working_days):
                changed.append({"case_id": c.id, "case_number": c.facts.case_number, "category": c.facts.category,
                                "risk_level": facts.risk.value, "from_unit_code": a.unit.code,
                                "from_unit_name": a.unit.name, "from_rule": a.rule_id, "to_unit_code": b.unit.code,
                                "to_unit_name": b.unit.name, "to_rule": b.rule_id,
                                "from_working_days": a.working_days, "to_working_days": b.working_days})
        moved: dict[str, int] = {}
        for x in changed:
            moved[x["to_unit_code"]] = moved.get(x["to_unit_code"], 0) + 1
        return {"active_version": old.version, "tried_version": new.version, "days": days, "cases": total,
                "changed": len(changed), "to_units": moved, "examples": changed[:200]}
