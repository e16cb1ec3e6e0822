"""What one submission costs the database (issue 12, ADR 0190), counted with a CommandListener on intake's own
client against the real MongoDB-protocol server, through the HTTP route: counts, not seconds."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from pymongo import monitoring
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings

pytestmark = pytest.mark.integration

CASE = {
    "channel": "self_service",
    "applicant": {"name": "欧阳娜娜", "phone": "13900001234"},
    "description": "包工头拖欠我们三个月工资，一共两万多元",
}
# what a new case costs: the applicant's recent cases (a retry? a repeat?), then ONE transaction; the case number
# comes from the process's block (ADR 0211): one increment of the counter per block, on the submission that opens it
NEW_CASE = [("find", "cases", False), ("insert", "cases", True), ("insert", "outbox", True),
            ("commitTransaction", "", True)]
RESERVE = ("findAndModify", "counters", False)
BLOCK = 4


class Commands(monitoring.CommandListener):
    """(command, collection, inside a transaction) of every command intake's client sends while ``on``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            target = event.command.get(event.command_name)
            self.seen.append((event.command_name, target if isinstance(target, str) else "",
                              event.command.get("autocommit") is False))  # a retryable write has a txnNumber too

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


@pytest.fixture
async def api(yima_infra, mongo_db_prefix, monkeypatch):
    import yima_kit.querylog

    commands = Commands()
    # yima_kit.mongo.connect asks querylog for its listeners when it makes a client: intake's client reports to us
    monkeypatch.setattr(yima_kit.querylog, "listeners", lambda: [commands])
    settings = IntakeSettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url, mongo_db_prefix=mongo_db_prefix,
        submit_rate_per_minute=1000, case_number_block=BLOCK,
    )
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            client.commands = commands  # type: ignore[attr-defined]
            client.app = app  # type: ignore[attr-defined]
            await client.post("/api/v1/cases", json=applicant(CASE, "13900009999"))  # this process's first block
            yield client


def applicant(body: dict[str, Any], phone: str) -> dict[str, Any]:
    return {**body, "applicant": {"name": "欧阳娜娜", "phone": phone}}


async def post(api: Any, body: dict[str, Any], key: str | None) -> tuple[httpx.Response, list[tuple[str, str, bool]]]:
    commands: Commands = api.commands
    commands.seen, commands.on = [], True
    try:
        r = await api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key} if key else {})
    finally:
        commands.on = False
    return r, commands.seen


async def test_a_new_case_is_one_read_and_one_transaction_of_two_writes(api) -> None:
    r, seen = await post(api, CASE, str(uuid.uuid4()))
    assert r.status_code == 201, r.text
    assert seen == NEW_CASE  # 8 before ADR 0190: the key's own read and insert, the timeline's insert; the counter
    r, seen = await post(api, applicant(CASE, "13900002222"), None)
    assert r.status_code == 201 and seen == NEW_CASE

    # what the write carries: the key (on the case), the first timeline steps (on the case), both events
    db = api.app.state.runtime.db
    doc = await db["cases"].find_one({"_id": r.json()["case_id"]})
    assert [s["title_zh"] for s in doc["first_steps"]] == ["纠纷已登记"]
    assert await db["timeline"].count_documents({"case_id": doc["_id"]}) == 0
    assert sorted([d["topic"] async for d in db["outbox"].find({"key": doc["_id"]})]) == ["case.status",
                                                                                          "case.submitted"]


async def test_a_burst_of_submissions_shares_transactions(api) -> None:
    """Group commit (ADR 0219): submissions that come while one commits go together in the next — every case once,
    with its own number and its own events, in fewer transactions than cases; each transaction still two writes."""
    commands: Commands = api.commands
    commands.seen, commands.on = [], True
    try:
        answers = await asyncio.gather(*(api.post("/api/v1/cases", json=applicant(CASE, f"139000080{i:02d}"))
                                         for i in range(12)))
    finally:
        commands.on = False
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers]
    writes = [c for c in commands.seen if c[2]]
    commits = writes.count(("commitTransaction", "", True))
    assert commits == writes.count(("insert", "cases", True)) == writes.count(("insert", "outbox", True)) < 12
    assert len(writes) == 3 * commits  # nothing else inside the transactions
    assert len({a.json()["case_number"] for a in answers}) == 12
    db = api.app.state.runtime.db
    ids = [a.json()["case_id"] for a in answers]
    assert await db["cases"].count_documents({"_id": {"$in": ids}}) == 12
    staged = [d["key"] async for d in db["outbox"].find({"key": {"$in": ids}, "topic": "case.submitted"})]
    assert sorted(staged) == sorted(ids)


async def test_the_case_number_costs_one_increment_per_block(api) -> None:
    seen = [(await post(api, applicant(CASE, f"1390000300{i}"), None))[1] for i in range(BLOCK + 1)]
    # the fixture's submission opened the block: its rest, then the next block's first number with its increment
    assert seen == [NEW_CASE] * (BLOCK - 1) + [[NEW_CASE[0], RESERVE, *NEW_CASE[1:]]] + [NEW_CASE]


async def test_a_retry_is_one_read_and_a_repeat_report_one_transaction(api) -> None:
    key = str(uuid.uuid4())
    first, _ = await post(api, CASE, key)
    again, seen = await post(api, CASE, key)
    assert again.status_code == 200 and again.json()["case_id"] == first.json()["case_id"]
    assert seen == [("find", "cases", False)]

    repeat, seen = await post(api, CASE, None)  # the same dispute again, not a retry: joined to its case
    assert repeat.status_code == 200 and repeat.json()["repeat"] is True, repeat.text
    assert seen == [("find", "cases", False), ("findAndModify", "cases", True), ("insert", "timeline", True),
                    ("insert", "outbox", True), ("commitTransaction", "", True)]


async def test_a_key_the_recent_cases_do_not_show_is_caught_by_the_unique_index(api) -> None:
    key = str(uuid.uuid4())
    first, _ = await post(api, CASE, key)
    # the same key with another applicant's submission: not among THIS applicant's cases, refused by the index
    other, seen = await post(api, applicant(CASE, "13900005555"), key)
    assert other.status_code == 409 and other.json()["errors"][0]["code"] == "idempotency_conflict"
    assert ("insert", "cases", True) in seen
    # concurrent retries of one submission: one case, every answer names it
    key2, body = str(uuid.uuid4()), applicant(CASE, "13900006666")
    answers = await asyncio.gather(*(api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key2})
                                     for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["case_id"] for a in answers}) == 1
    db = api.app.state.runtime.db
    assert await db["cases"].count_documents({"idempotency.key": {"$in": [key, key2]}}) == 2
    assert first.json()["case_id"] != answers[0].json()["case_id"]
    # the conflict path's read is served by the unique index, not a scan of every case
    plan = await db.command("explain", {"find": "cases", "filter": {"idempotency.key": key}}, verbosity="queryPlanner")
    assert "COLLSCAN" not in json.dumps(plan, default=str) and "idempotency_key" in json.dumps(plan, default=str)


async def test_the_registration_steps_coming_back_from_kafka_cost_nothing_and_show_once(api) -> None:
    r, _ = await post(api, {**CASE, "emergency": True}, None)
    case_id, code = r.json()["case_id"], r.json()["tracking_code"]
    db, service = api.app.state.runtime.db, api.app.state.intake
    staged = [CaseStatusChanged.model_validate(json.loads(d["payload"]))
              async for d in db["outbox"].find({"key": case_id, "topic": "case.status"})]
    assert len(staged) == 2
    later = CaseStatusChanged(case_id=case_id, correlation_id=case_id, state=CaseState.ASSIGNED, title_zh="已分派")
    commands: Commands = api.commands
    async with service.client.start_session() as s:
        commands.seen, commands.on = [], True
        await service.record_statuses(staged, s)  # intake's own steps, read back: nothing to write or read
        assert commands.seen == []
        await service.record_statuses([*staged, later], s)  # a redelivery with a new step: only the new one
        commands.on = False
    assert [c[:2] for c in commands.seen] == [("update", "timeline"), ("update", "cases")]
    view = (await api.get(f"/api/v1/track/{code}", params={"check": "1234"})).json()
    assert [s["state"] for s in view["timeline"]] == ["submitted", "submitted", "assigned"]
    assert view["state"] == "assigned"
