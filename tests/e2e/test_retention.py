"""Retention end to end (docs/retention.md, ADR 0125): a case that ended six years ago — past the five-year period —
loses its personal data in every service's database, while what the statistics count stays.

A wage dispute goes to a committee that works in yima (mediation holds its parties), a respondent is registered,
then the case's closing step arrives dated six years back. Intake's retention role, run once as an operator's job
(``python -m yima_intake sweep-retention --once``), erases intake's copy and publishes ``case.retention_expired``;
routing, risk, mediation and notify erase theirs from it. The test then reads every database of the platform: no
clear name, phone, ID number, address or description, no blind index of the phone, and none of the ciphertexts the
case's documents held before — while insight's fact, the ledger of notify and the states stay as they were.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from yima_contracts import Actor, CaseStatusChanged, topics
from yima_contracts.codes import ActorKind, CaseState, StaffRole
from yima_devstack.kafka_tools import keyed, produce, read_topic, wait_for
from yima_devstack.services import service_env
from yima_kit.auth import TokenIssuer
from yima_kit.crypto import FieldCipher

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMITTEE = "JSQ-LDTJ"  # 金水区劳动争议人民调解委员会 works inside yima
DISPATCHER = {"Authorization": "Bearer " + TokenIssuer.dev().issue(
    staff_id="e2e-retention-dispatcher", unit=COMMITTEE, role=StaffRole.DISPATCHER, unit_path=("410105", COMMITTEE),
    name="王芳")}
PREFIX = "sm4gcm:"  # a ciphertext of the kit's field cipher
SERVICES_WITH_PERSONAL_DATA = ("intake", "routing", "risk", "mediation", "notify")


def resident_id(base17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return base17 + "10X98765432"[sum(int(d) * w for d, w in zip(base17, weights, strict=True)) % 11]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


async def case_documents(client: AsyncMongoClient[Any], prefix: str, ids: list[str]) -> dict[str, list[dict]]:
    """Every document of every service that belongs to the case: by _id, case_id or assignment_id."""
    out: dict[str, list[dict]] = {}
    for name in await client.list_database_names():
        if not name.startswith(prefix):
            continue
        db = client[name]
        for col in await db.list_collection_names():
            query = {"$or": [{"_id": {"$in": ids}}, {"case_id": {"$in": ids}}, {"assignment_id": {"$in": ids}}]}
            docs = [d async for d in db[col].find(query)]
            if docs:
                out.setdefault(name.removeprefix(prefix), []).extend(docs)
    return out


async def clear_text_anywhere(client: AsyncMongoClient[Any], prefix: str, needles: list[str]) -> list[str]:
    """Where any of ``needles`` is stored in clear, in any document of any collection of the platform."""
    found = []
    for name in await client.list_database_names():
        if not name.startswith(prefix):
            continue
        for col in await client[name].list_collection_names():
            async for doc in client[name][col].find({}):
                text = json.dumps(doc, ensure_ascii=False, default=str)
                found += [f"{name}.{col}: {n}" for n in needles if n in text]
    return found


async def test_an_old_closed_case_keeps_no_personal_data_in_any_store(platform, yima_infra):
    phone = "139" + "".join(random.choices("0123456789", k=8))
    respondent_phone = "137" + "".join(random.choices("0123456789", k=8))
    name, respondent, rid = "阿依古丽·买买提", "司马相如", resident_id("41010519800101" + str(random.randint(100, 999)))
    address = "金水区纬五路七号院三单元"
    description = "我在纬五路工地干了三个月，包工头拖欠工资两万三千元不给，多次讨要无果"
    cipher = FieldCipher.from_hex("")
    blind = [cipher.blind_index(phone, context=c) for c in ("applicant.phone", "risk.applicant", "recipients.phone")]
    blind.append(cipher.blind_index(name, context="mediation.person_name"))

    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
        r = await intake.post("/api/v1/cases", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "channel": "self_service", "description": description, "location": {"address": address},
            "applicant": {"name": name, "phone": phone, "resident_id": rid}})
        assert r.status_code == 201, r.text
        case = r.json()
    case_id = case["case_id"]
    async with httpx.AsyncClient(base_url=platform.procs["mediation"].url, timeout=10) as med:
        async def in_queue() -> dict | None:
            items = (await med.get("/api/v1/queue", params={"state": "new"}, headers=DISPATCHER)).json()["items"]
            return next((i for i in items if i["case_id"] == case_id), None)

        aid = (await wait_for(in_queue))["assignment_id"]
        r = await med.post(f"/api/v1/cases/{aid}/parties", headers=DISPATCHER,
                           json={"name": respondent, "phone": respondent_phone, "role": "respondent"})
        assert r.status_code in (200, 201), r.text

    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    prefix = platform.db_prefix
    try:
        def holding_ciphertexts(docs: dict[str, list[dict]]) -> set[str]:
            return {svc for svc, ds in docs.items() if any(s.startswith(PREFIX) for d in ds for s in strings(d))}

        async def every_store_has_it() -> dict[str, list[dict]] | None:
            docs = await case_documents(client, prefix, [case_id, aid])
            wanted = {f"yima_{s}" for s in SERVICES_WITH_PERSONAL_DATA}
            return docs if wanted <= holding_ciphertexts(docs) and "yima_insight" in docs else None

        docs = await wait_for(every_store_has_it)
        before = {s for ds in docs.values() for d in ds for s in strings(d) if s.startswith(PREFIX)}
        assert blind[0] in {s for ds in docs.values() for d in ds for s in strings(d)}  # intake's applicant_key

        # The case ended six years ago (its closing step, as mediation would have sent it, dated back).
        ended = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6 * 365)
        closed = CaseStatusChanged(case_id=case_id, correlation_id=case_id, occurred_at=ended,
                                   actor=Actor(kind=ActorKind.SYSTEM, service="mediation"), state=CaseState.CLOSED,
                                   title_zh="案件已办结", acting_unit_code=COMMITTEE)
        await produce(yima_infra.kafka_bootstrap, topics.CASE_STATUS, case_id, closed.model_dump_json().encode())
        intake_db = client[f"{prefix}yima_intake"]
        await wait_for(lambda: intake_db["cases"].find_one({"_id": case_id, "ended_at": {"$exists": True}}))
        insight = client[f"{prefix}yima_insight"]
        # the fact once insight has counted the level and the work order too (with the unit's path): its consumers
        # may trail mediation's, and the erasure must keep what was counted, not what had been counted so far
        fact = await wait_for(lambda: insight["facts"].find_one({"_id": case_id, "case_number": case["case_number"],
                                                                 "in_platform": {"$ne": None},
                                                                 "level": {"$ne": "none"}}))
        counted = ("case_number", "received_at", "channel", "category", "unit", "unit_path", "level")
        notices = await client[f"{prefix}yima_notify"]["notifications"].count_documents({"case_id": case_id})

        env = platform.env_for("intake", service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url,
                                                     db_prefix=prefix))
        job = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "yima_intake", "sweep-retention",
                                                       "--once"], env=env, capture_output=True, text=True,
                                      timeout=120)
        assert job.returncode == 0, job.stderr[-2000:]
        assert "已删除 1 个案件的个人信息" in job.stdout, job.stdout

        async def erased_everywhere() -> dict[str, list[dict]] | None:
            now = await case_documents(client, prefix, [case_id, aid])
            values = {s for ds in now.values() for d in ds for s in strings(d)}
            return now if not (values & before) and not (values & set(blind)) else None

        try:
            after = await wait_for(erased_everywhere, timeout=60)
        except TimeoutError:
            now = await case_documents(client, prefix, [case_id, aid])
            left = {f"{svc}.{k}" for svc, ds in now.items() for d in ds for k, v in d.items()
                    if set(strings(v)) & (before | set(blind))}
            raise AssertionError(f"personal data left after erasure: {sorted(left)}") from None
        assert await clear_text_anywhere(client, prefix, [name, respondent, phone, respondent_phone, rid,
                                                          "纬五路七号院", "两万三千元"]) == []

        # Exactly once: one retention event for the case; a second run of the job finds nothing to erase.
        events = await read_topic(yima_infra.kafka_bootstrap, topics.CASE_RETENTION_EXPIRED, keyed(case_id))
        assert len(events) == 1 and json.loads(events[0].value)["case_number"] == case["case_number"]
        again = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "yima_intake", "sweep-retention",
                                                         "--once"], env=env, capture_output=True, text=True,
                                        timeout=120)
        assert "已删除 0 个案件的个人信息" in again.stdout, again.stdout + again.stderr[-2000:]

        # What is counted stays: the case, its states, its units, insight's fact, notify's ledger.
        kept = await intake_db["cases"].find_one({"_id": case_id})
        assert kept["case_number"] == case["case_number"] and kept["state"] == "closed" and kept["erased_at"]
        assert kept["category"] == "labour_wages" and kept["channel"] == "self_service"
        mediation_case = next(d for d in after["yima_mediation"] if d["_id"] == aid)
        assert [p["party_id"] for p in mediation_case["parties"]] == ["p1", "p2"]
        still = await insight["facts"].find_one({"_id": case_id})
        assert {k: still.get(k) for k in counted} == {k: fact.get(k) for k in counted}
        assert await client[f"{prefix}yima_notify"]["notifications"].count_documents({"case_id": case_id}) == notices
        # The tracking code opens nothing any more (no phone check can match).
        async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
            r = await intake.get(f"/api/v1/track/{case['tracking_code']}", params={"check": phone[-4:]})
            assert r.status_code == 404, r.text
    finally:
        await client.close()
