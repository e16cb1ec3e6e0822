"""Routing rules as versioned data: every rule set ever active is kept (``rulesets``, by version), one is active.

At start the rules file is registered: a version not seen before becomes active (a deployment of a new file is a
deliberate change); a version already known leaves whatever an admin activated since. Admins replace the
active set through ``PUT /api/v1/admin/rules`` (validated, a new version, a reason). Replicas pick it up with the
directory refresher's cadence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from ..core.directory import Directory
from ..core.rules import RuleSet

ACTIVE = "active"


class RulesConflict(Exception):
    pass


def check_against(rules: RuleSet, directory: Directory) -> list[str]:
    """Problems that would make the rules unusable with this directory (unknown fixed units)."""
    problems = []
    if directory.get(rules.default_unit) is None:
        problems.append(f"default_unit {rules.default_unit} 不存在")
    for r in rules.rules:
        for t in (r.target, *r.summon):
            if t.startswith("unit:") and directory.get(t.removeprefix("unit:")) is None:
                problems.append(f"规则{r.id}: 单位{t.removeprefix('unit:')}不存在")
    return problems


class RulesStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.sets = db["rulesets"]
        self.meta = db["rules_meta"]

    async def register_file(self, rules: RuleSet) -> RuleSet:
        """Make the file's version known (and active if it is new); return the active rule set."""
        if await self.sets.find_one({"_id": rules.version}, {"_id": 1}) is None:
            await self.sets.insert_one({"_id": rules.version, "body": rules.model_dump(mode="json"),
                                        "at": datetime.now(UTC), "by": "file", "reason": "部署的规则文件"})
            await self.meta.update_one({"_id": ACTIVE}, {"$set": {"version": rules.version}}, upsert=True)
        return await self.active() or rules

    async def active(self) -> RuleSet | None:
        meta = await self.meta.find_one({"_id": ACTIVE})
        if meta is None:
            return None
        doc = await self.sets.find_one({"_id": meta["version"]})
        return RuleSet.model_validate(doc["body"]) if doc else None

    async def activate(self, rules: RuleSet, *, by: str, reason: str, session: AsyncClientSession) -> None:
        if await self.sets.find_one({"_id": rules.version}, {"_id": 1}, session=session) is not None:
            raise RulesConflict(rules.version)
        await self.sets.insert_one({"_id": rules.version, "body": rules.model_dump(mode="json"),
                                    "at": datetime.now(UTC), "by": by, "reason": reason}, session=session)
        await self.meta.update_one({"_id": ACTIVE}, {"$set": {"version": rules.version}}, upsert=True,
                                   session=session)

    async def history(self) -> list[dict[str, Any]]:
        return [{"version": d["_id"], "at": d["at"], "by": d["by"], "reason": d["reason"]}
                async for d in self.sets.find({}, {"body": 0}).sort("at", 1)]
