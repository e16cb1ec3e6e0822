"""Risk's read side for the staff screens: a case's risk and its history, the early warnings, a leader's red cases,
the staff corrections — each scoped to the caller (core/scope.py), read through the repository port."""

from __future__ import annotations

from typing import Any

from .core.ruleset import RuleSet
from .core.scope import Viewer, may_see_case, may_see_warning
from .ports import Doc, FollowupTimers, RiskRepository

_CURRENT = ("level", "own_level", "score", "rule_ids", "ruleset_version", "stage", "reason_zh", "needs_review",
            "lowered_by_staff")
SCOPE_FIELDS = ["unit_code", "handling_unit", "leader", "closed", "submitted", "assigned_units", "unit_paths"]


def clean(doc: Doc) -> Doc:
    """A document as the API shows it: no description, no applicant key, times as ISO text."""
    out = {k: v for k, v in doc.items() if k not in ("description", "additional", "applicant_key", "_id")}
    for k, v in out.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
    return out


def leader_summary(case: Doc, names: dict[str, str], history: list[Doc], followup: Doc | None) -> Doc:
    """A red case for its leader: the risk, why (the rules' own words), how the level went, the visits."""
    return {"case_id": case["_id"], "case_number": case.get("case_number"), "category": case.get("category"),
            "level": case.get("level"), "score": case.get("score"), "reason_zh": case.get("reason_zh"),
            "rules": [{"rule_id": r, "name_zh": names.get(r, r)} for r in case.get("rule_ids") or []],
            "levels": [{"level": a.get("level"), "at": a.get("occurred_at"), "stage": a.get("stage")}
                       for a in history],
            "closed": clean(case["closed"]) if case.get("closed") else None,
            "followup": clean(followup) if followup else None,
            "visits": [clean(v) for v in case.get("visits", [])]}


class RiskViews:
    def __init__(self, repo: RiskRepository, timers: FollowupTimers, rules: RuleSet, decrypt: Any) -> None:
        self.repo, self.timers, self.rules, self.decrypt = repo, timers, rules, decrypt

    async def case_risk(self, case_id: str, viewer: Viewer) -> Doc | None:
        """The case's current risk, every assessment and its follow-up; None when the caller may not see it (or it
        is not assessed): one answer for both."""
        case = await self.repo.case(case_id)
        if not case or not case.get("submitted") or not may_see_case(viewer, case):
            return None
        history = [clean(d) for d in await self.repo.assessments(case_id)]
        current = {k: case.get(k) for k in _CURRENT}
        if case.get("correction"):  # staff's level and reason (a lowered one is flagged for the supervisor)
            current["correction"] = clean(dict(case["correction"]))
        followup = await self.timers.of_case(case_id)
        return {"case_id": case_id, **current, "assessments": history,
                "followup": clean(followup) if followup else None}

    async def warnings(self, viewer: Viewer, limit: int) -> list[Doc]:
        """The newest warnings the caller may see (the places' paths read once each)."""
        out: list[Doc] = []
        paths: dict[str, list[str]] = {}
        async for d in self.repo.newest_warnings(5000):
            place = d.get("unit_code")
            if place and place not in paths:
                paths[place] = await self.repo.unit_path(place) or [place]
            if may_see_warning(viewer, place, paths.get(place) if place else None):
                out.append(clean(d))
                if len(out) >= limit:
                    break
        return out

    async def red_cases_of(self, staff_id: str) -> list[Doc]:
        """The caller's red cases, as their named leader (分包领导)."""
        names = self.rules.rule_names()
        out = []
        for case in await self.repo.red_cases_of_leader(staff_id, 200):
            history = await self.repo.assessments(case["_id"], ["level", "occurred_at", "stage"])
            followup = await self.timers.of_case(case["_id"])
            out.append(leader_summary(case, names, history, followup))
        return out

    async def case_in_scope(self, case_id: str, viewer: Viewer) -> bool:
        """An assessed case the caller may see (to correct its level)."""
        case = await self.repo.case(case_id, fields=SCOPE_FIELDS)
        return bool(case and case.get("submitted") and may_see_case(viewer, case))

    async def corrections(self, viewer: Viewer, lowered: bool | None, limit: int) -> list[Doc]:
        """Corrections of the cases the caller may see, newest first (reasons decrypted for the supervisor)."""
        out: list[Doc] = []
        seen: dict[str, bool] = {}
        async for d in self.repo.corrections(lowered, 5000):
            if d["case_id"] not in seen:  # only corrections of cases the caller may see
                seen[d["case_id"]] = may_see_case(viewer, await self.repo.case(d["case_id"]))
            if not seen[d["case_id"]]:
                continue
            if len(out) >= limit:
                break
            d["reason_zh"] = self.decrypt(d["reason_zh"], context="risk.correction")
            d["correction_id"] = d.pop("_id")
            d["at"] = d["at"].isoformat()
            out.append(d)
        return out
