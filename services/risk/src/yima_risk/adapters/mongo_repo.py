"""Mongo implementation of risk's repository (database ``yima_risk``; ports.RiskRepository).

Collections: ``cases`` (the facts of each case, description encrypted, its level and the rules that fired),
``assessments`` (every published assessment), ``warning_index`` (category, place, organisation respondent and time
of each case — no personal data), ``warnings`` (every early warning raised), ``unit_paths`` (unit code → codes from
the top down, learnt from case.assigned), ``corrections`` (staff corrections of a level).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts.codes import Category

from ..core.warnings import CaseRef
from ..ports import Doc, Session, WarningWindow


class MongoRiskRepository:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.cases = db["cases"]
        self.assessments_col = db["assessments"]
        self.index = db["warning_index"]
        self.warnings = db["warnings"]
        self.unit_paths = db["unit_paths"]
        self.corrections_col = db["corrections"]

    async def setup(self) -> None:
        await self.assessments_col.create_index([("case_id", ASCENDING), ("occurred_at", ASCENDING)])
        # every field of the repeat query (the MongoDB-wire stand-in's planner needs them all in one index)
        await self.cases.create_index([("applicant_key", ASCENDING), ("category", ASCENDING),
                                       ("submitted_at", ASCENDING)])
        await self.cases.create_index([("leader.staff_id", ASCENDING), ("ever_red", ASCENDING)])  # a leader's cases
        await self.index.create_index([("category", ASCENDING), ("at", DESCENDING)])
        await self.index.create_index("at")
        await self.index.create_index([("respondent_org", ASCENDING), ("at", DESCENDING)])
        await self.warnings.create_index([("key", ASCENDING), ("raised_at", DESCENDING)])
        await self.corrections_col.create_index([("lowered", ASCENDING), ("at", DESCENDING)])
        await self.corrections_col.create_index([("case_id", ASCENDING), ("at", ASCENDING)])

    # --- cases ---

    async def case(self, case_id: str, session: Session = None, fields: list[str] | None = None) -> Doc | None:
        projection = dict.fromkeys(fields, 1) if fields else None
        return await self.cases.find_one({"_id": case_id}, projection, session=session)

    async def update_case(self, case_id: str, update: Doc, session: Session, *, upsert: bool = True) -> None:
        await self.cases.update_one({"_id": case_id}, update, upsert=upsert, session=session)

    async def earlier_cases(self, applicant_key: str, category: str, since: datetime, before: datetime,
                            session: Session) -> list[str]:
        return [d["_id"] async for d in self.cases.find(
            {"applicant_key": applicant_key, "category": category, "submitted_at": {"$gte": since, "$lt": before}},
            {"_id": 1}, session=session).sort("submitted_at", ASCENDING).limit(21)]

    async def learn_unit_paths(self, paths: dict[str, list[str]], session: Session) -> None:
        for code, path in paths.items():
            await self.unit_paths.update_one({"_id": code}, {"$set": {"path": path}}, upsert=True, session=session)

    async def unit_path(self, unit_code: str) -> list[str] | None:
        known = await self.unit_paths.find_one({"_id": unit_code})
        return (known or {}).get("path")

    async def red_cases_of_leader(self, staff_id: str, limit: int) -> list[Doc]:
        cursor = self.cases.find({"leader.staff_id": staff_id, "ever_red": True}).sort("submitted_at", -1).limit(limit)
        return [c async for c in cursor]

    async def add_visit(self, case_id: str, visit: Doc) -> None:
        await self.cases.update_one({"_id": case_id}, {"$push": {"visits": visit}})

    # --- assessments ---

    async def add_assessment(self, doc: Doc, session: Session) -> None:
        await self.assessments_col.insert_one(doc, session=session)

    async def assessments(self, case_id: str, fields: list[str] | None = None) -> list[Doc]:
        projection = dict.fromkeys(fields, 1) if fields else None
        return [d async for d in self.assessments_col.find({"case_id": case_id}, projection).sort("occurred_at", 1)]

    # --- early warnings ---

    async def index_case(self, ref: CaseRef, session: Session) -> None:
        await self.index.update_one(
            {"_id": ref.case_id},
            {"$set": {"category": ref.category.value, "at": ref.at, "unit_code": ref.unit_code,
                      "respondent_org": ref.respondent_org}},
            upsert=True, session=session,
        )

    async def set_indexed_category(self, case_id: str, category: str, session: Session) -> None:
        await self.index.update_one({"_id": case_id}, {"$set": {"category": category}}, session=session)

    async def warning_window(self, new: CaseRef, lookback_days: int, respondent_days: int, keys: list[str],
                             session: Session) -> WarningWindow:
        query: Doc = {"category": new.category.value, "at": {"$gt": new.at - timedelta(days=lookback_days)}}
        if new.respondent_org:
            query = {"$or": [query, {"respondent_org": new.respondent_org,
                                     "at": {"$gt": new.at - timedelta(days=respondent_days)}}]}
        recent = [
            CaseRef(d["_id"], Category(d["category"]), d["at"], d.get("unit_code"), d.get("respondent_org"))
            async for d in self.index.find(query, session=session)
        ]
        last: dict[str, datetime] = {}
        for key in keys:
            doc = await self.warnings.find_one({"key": key}, sort=[("raised_at", DESCENDING)], session=session)
            if doc:
                last[key] = doc["raised_at"]
        first = await self.index.find_one({}, {"at": 1}, sort=[("at", ASCENDING)], session=session)
        return WarningWindow(recent, last, first["at"] if first else None)

    async def add_warning(self, doc: Doc, session: Session) -> None:
        await self.warnings.insert_one(doc, session=session)

    def newest_warnings(self, limit: int) -> AsyncIterator[Doc]:
        return aiter(self.warnings.find().sort("raised_at", -1).limit(limit))

    # --- staff corrections ---

    async def add_correction(self, doc: Doc, session: Session) -> None:
        await self.corrections_col.insert_one(doc, session=session)

    def corrections(self, lowered: bool | None, limit: int) -> AsyncIterator[Doc]:
        q: Doc = {} if lowered is None else {"lowered": lowered}
        return aiter(self.corrections_col.find(q).sort("at", -1).limit(limit))

    async def latest_corrections(self) -> list[Doc]:
        latest: dict[str, Doc] = {}
        async for d in self.corrections_col.find({}, {"case_id": 1, "level": 1, "category": 1}).sort("at", ASCENDING):
            latest[d["case_id"]] = d
        return list(latest.values())
