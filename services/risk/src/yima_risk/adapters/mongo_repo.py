"""Mongo implementation of risk's repository (database ``yima_risk``; ports.RiskRepository).

Collections: ``cases`` (the facts of each case, description encrypted, its level and the rules that fired),
``assessments`` (every published assessment), ``warning_index`` (category, place, organisation respondent and time
of each case — no personal data), ``warnings`` (every early warning raised), ``unit_paths`` (unit code → codes from
the top down, learnt from case.assigned), ``corrections`` (staff corrections of a level).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts.codes import Category
from yima_kit.batch import DocumentBuffer

from ..core.warnings import CaseRef, WindowReads
from ..ports import Doc, Session, WarningState


class MongoRiskRepository:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.cases = db["cases"]
        self.assessments_col = db["assessments"]
        self.index = db["warning_index"]
        self.warnings = db["warnings"]
        self.unit_paths = db["unit_paths"]
        self.corrections_col = db["corrections"]
        self._buffer: DocumentBuffer | None = None  # a batch's view (in_batch): cases read once, written once
        self._paths: dict[str, list[str]] = {}  # a batch's unit paths, written once at flush
        self._memo: dict[str, datetime] = {}  # the oldest case on record (warning_state), once read; shared by views
        self._batch: _Submissions | None = None  # a batch's view: what its submissions read once (load_submissions)

    async def setup(self) -> None:
        await self.assessments_col.create_index([("case_id", ASCENDING), ("occurred_at", ASCENDING)])
        # every field of the repeat query (the MongoDB-wire stand-in's planner needs them all in one index)
        await self.cases.create_index([("applicant_key", ASCENDING), ("category", ASCENDING),
                                       ("submitted_at", ASCENDING)])
        await self.cases.create_index([("leader.staff_id", ASCENDING), ("ever_red", ASCENDING)])  # a leader's cases
        await self.index.create_index([("category", ASCENDING), ("at", DESCENDING)])
        await self.index.create_index([("category", ASCENDING), ("unit_code", ASCENDING), ("at", DESCENDING)])
        await self.index.create_index("at")
        await self.index.create_index([("respondent_org", ASCENDING), ("at", DESCENDING)])
        await self.warnings.create_index([("key", ASCENDING), ("raised_at", DESCENDING)])
        await self.corrections_col.create_index([("lowered", ASCENDING), ("at", DESCENDING)])
        await self.corrections_col.create_index([("case_id", ASCENDING), ("at", ASCENDING)])

    # --- a consumer's batch (ADR 0155) ---

    def in_batch(self, session: Session) -> MongoRiskRepository:
        """A view of this repository for one batch of events inside its transaction: the cases are read in one
        query (load_cases), changed in memory, and written with the batch's assessments and unit paths at flush."""
        view = copy.copy(self)
        view._buffer = DocumentBuffer(self.cases, session)
        view.assessments_col = DocumentBuffer(self.assessments_col, session)  # type: ignore[assignment]
        view._paths = {}
        view._batch = _Submissions()
        return view

    async def load_cases(self, case_ids: set[str]) -> None:
        if self._buffer is not None:
            await self._buffer.load(sorted(case_ids))

    async def load_submissions(self, applicant_keys: set[str], since: datetime, warning_keys: list[str]) -> None:
        """What the batch's submissions will ask, in two reads instead of three per case: the applicants' cases
        since ``since`` (earlier_cases) and when each of ``warning_keys`` was last raised (warning_state)."""
        b = self._batch
        if b is None or self._buffer is None:
            return
        # By the applicants only: the stand-in's planner serves `$in` on an index's first field but scans for `$in`
        # with a range on a later one; an applicant has a handful of cases, and the window is applied here.
        async for d in self.cases.find({"applicant_key": {"$in": sorted(applicant_keys)}},
                                       {"applicant_key": 1, "category": 1, "submitted_at": 1},
                                       session=self._buffer.session):
            if (at := d.get("submitted_at")) is not None and at >= since:
                b.applicants_cases.append(d)
        b.applicants, b.applicants_since = set(applicant_keys), since
        b.raised = await self._last_raised(warning_keys, self._buffer.session)
        b.raised_keys = set(warning_keys)

    async def flush(self, session: Session) -> None:
        if self._buffer is not None:
            await self._buffer.flush()
            await self.assessments_col.flush()  # type: ignore[attr-defined]
            paths, self._paths = self._paths, {}
            await self._write_paths(paths, session)
        if self._batch is not None and self._batch.indexed:
            indexed, self._batch.indexed = self._batch.indexed, {}
            await self.index.bulk_write([UpdateOne({"_id": ref.case_id}, {"$set": _index_fields(ref)}, upsert=True)
                                         for ref in indexed.values()], ordered=False, session=session)

    # --- cases ---

    async def case(self, case_id: str, session: Session = None, fields: list[str] | None = None) -> Doc | None:
        projection = dict.fromkeys(fields, 1) if fields else None
        if self._buffer is not None:
            return await self._buffer.find_one({"_id": case_id}, projection)
        return await self.cases.find_one({"_id": case_id}, projection, session=session)

    async def update_case(self, case_id: str, update: Doc, session: Session, *, upsert: bool = True) -> None:
        if self._buffer is not None:
            await self._buffer.update_one({"_id": case_id}, update, upsert=upsert)
            return
        await self.cases.update_one({"_id": case_id}, update, upsert=upsert, session=session)

    async def earlier_cases(self, applicant_key: str, category: str, since: datetime, before: datetime,
                            session: Session) -> list[str]:
        b = self._batch
        if b is not None and b.read_cases_of(applicant_key, since):
            found = {d["_id"]: d["submitted_at"] for d in b.applicants_cases
                     if d["applicant_key"] == applicant_key and d.get("category") == category
                     and since <= d["submitted_at"] < before}
        else:
            found = {d["_id"]: d["submitted_at"] async for d in self.cases.find(
                {"applicant_key": applicant_key, "category": category, "submitted_at": {"$gte": since, "$lt": before}},
                {"_id": 1, "submitted_at": 1}, session=session).sort("submitted_at", ASCENDING).limit(21)}
        if self._buffer is not None:  # the batch's cases as they are now, not as the database last saw them
            for d in self._buffer.held():
                found.pop(d["_id"], None)
                at = d.get("submitted_at")
                if (d.get("applicant_key") == applicant_key and d.get("category") == category
                        and at is not None and since <= at < before):
                    found[d["_id"]] = at
        return [i for i, _ in sorted(found.items(), key=lambda kv: kv[1])][:21]

    async def learn_unit_paths(self, paths: dict[str, list[str]], session: Session) -> None:
        if self._buffer is not None:
            self._paths.update(paths)
            return
        await self._write_paths(paths, session)

    async def _write_paths(self, paths: dict[str, list[str]], session: Session) -> None:
        if paths:
            await self.unit_paths.bulk_write(
                [UpdateOne({"_id": code}, {"$set": {"path": path}}, upsert=True) for code, path in paths.items()],
                ordered=False, session=session)

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
        await self.assessments_col.insert_one(doc, session=session)  # a batch's view: written at flush

    async def assessments(self, case_id: str, fields: list[str] | None = None) -> list[Doc]:
        projection = dict.fromkeys(fields, 1) if fields else None
        return [d async for d in self.assessments_col.find({"case_id": case_id}, projection).sort("occurred_at", 1)]

    # --- early warnings ---

    async def index_case(self, ref: CaseRef, session: Session) -> None:
        if self._batch is not None:  # a batch's entries are written together at flush, and read from memory till then
            self._batch.indexed[ref.case_id] = ref
            return
        await self.index.update_one({"_id": ref.case_id}, {"$set": _index_fields(ref)}, upsert=True, session=session)

    async def set_indexed_category(self, case_id: str, category: str, session: Session) -> None:
        if self._batch is not None and (ref := self._batch.indexed.get(case_id)) is not None:
            self._batch.indexed[case_id] = dataclasses.replace(ref, category=Category(category))
            return
        await self.index.update_one({"_id": case_id}, {"$set": {"category": category}}, session=session)

    async def warning_state(self, new: CaseRef, keys: list[str], session: Session) -> WarningState:
        b = self._batch
        if b is not None and b.raised_keys.issuperset(keys):  # read for the batch, with what it raised since
            last = {k: b.raised[k] for k in keys if k in b.raised}
        else:
            last = await self._last_raised(keys, session)
        return WarningState(last, await self._first_case_at(new.at, session))

    async def _last_raised(self, keys: list[str], session: Session) -> dict[str, datetime]:
        # When each key was last raised: one query for the keys (a key is raised at most once per window, so this
        # reads a dozen documents per key and year; the stand-in's planner serves `$in` on the index's first field
        # but not `$in` with a range on the second).
        last: dict[str, datetime] = {}
        async for doc in self.warnings.find({"key": {"$in": keys}}, {"key": 1, "raised_at": 1}, session=session):
            if doc["key"] not in last or doc["raised_at"] > last[doc["key"]]:
                last[doc["key"]] = doc["raised_at"]
        return last

    async def recent_cases(self, new: CaseRef, reads: WindowReads, session: Session) -> list[CaseRef]:
        # One indexed range per warning that can still be raised, never an `$or` (this server scans the whole
        # collection for one) nor a wider range than the warning needs: the stand-in reads every entry of a
        # range, so a read's cost is the cases it spans (ADR 0218).
        queries: list[tuple[Doc, datetime]] = []  # equal fields, and the time the window starts after
        if reads.place_days is not None:
            queries.append(({"category": new.category.value, "unit_code": new.unit_code},
                            new.at - timedelta(days=reads.place_days)))
        if reads.respondent_days is not None:
            queries.append(({"respondent_org": new.respondent_org}, new.at - timedelta(days=reads.respondent_days)))
        if reads.surge_days is not None:
            queries.append(({"category": new.category.value}, new.at - timedelta(days=reads.surge_days)))
        batch = self._batch.indexed if self._batch is not None else {}
        found: dict[str, CaseRef] = {}
        for equal, after in queries:
            async for d in self.index.find({**equal, "at": {"$gt": after}}, session=session):
                if d["_id"] not in batch:  # the batch's own entry is the newer one
                    found.setdefault(d["_id"], CaseRef(d["_id"], Category(d["category"]), d["at"],
                                                       d.get("unit_code"), d.get("respondent_org")))
            for ref in batch.values():
                fields = _index_fields(ref)
                if ref.at > after and all(fields[k] == v for k, v in equal.items()):
                    found.setdefault(ref.case_id, ref)
        return list(found.values())

    async def _first_case_at(self, at: datetime, session: Session) -> datetime | None:
        """When the record of cases starts: read once per process (cases only come after it; retention removing
        the oldest moves it later by days, which a surge's baseline of weeks does not feel), then the earlier of
        that and a case submitted with an earlier time (a batch's first cases are not written yet)."""
        if "first" not in self._memo:
            first = await self.index.find_one({}, {"at": 1}, sort=[("at", ASCENDING)], session=session)
            if first is None:
                batch = self._batch.indexed if self._batch is not None else {}
                return min([at, *(r.at for r in batch.values())]) if batch else None
            self._memo["first"] = first["at"]
        return min(self._memo["first"], at)

    async def add_warning(self, doc: Doc, session: Session) -> None:
        await self.warnings.insert_one(doc, session=session)
        b = self._batch
        if b is not None and (doc["key"] not in b.raised or doc["raised_at"] > b.raised[doc["key"]]):
            b.raised[doc["key"]] = doc["raised_at"]

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


def _index_fields(ref: CaseRef) -> Doc:
    return {"category": ref.category.value, "at": ref.at, "unit_code": ref.unit_code,
            "respondent_org": ref.respondent_org}


@dataclasses.dataclass
class _Submissions:
    """A batch's early-warning entries (written at flush) and what its submissions read once for all."""

    indexed: dict[str, CaseRef] = dataclasses.field(default_factory=dict)
    applicants: set[str] = dataclasses.field(default_factory=set)
    applicants_since: datetime | None = None
    applicants_cases: list[Doc] = dataclasses.field(default_factory=list)
    raised_keys: set[str] = dataclasses.field(default_factory=set)
    raised: dict[str, datetime] = dataclasses.field(default_factory=dict)

    def read_cases_of(self, applicant_key: str, since: datetime) -> bool:
        """Whether the applicant's cases since ``since`` were read for the batch (``applicants_cases``)."""
        return applicant_key in self.applicants and self.applicants_since is not None and self.applicants_since <= since
