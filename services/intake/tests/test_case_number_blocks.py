"""Case numbers in blocks against the real MongoDB-protocol server (ADR 0211): two intake processes — two apps,
each with its own client and allocator, on one database — submitting at once never get the same number, and the
counter ends at the last number reserved by either."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from yima_intake.adapters.mongo_repo import MongoCaseRepository
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings
from yima_intake.core.numbering import CaseNumbers

pytestmark = pytest.mark.integration

BLOCK = 3  # small, so that both processes refill several times during the test


@contextlib.asynccontextmanager
async def intake(infra: Any, prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings(kafka_bootstrap=infra.kafka_bootstrap, mongo_url=infra.mongo_url, mongo_db_prefix=prefix,
                              submit_rate_per_minute=10_000, case_number_block=BLOCK)
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def body(i: int) -> dict[str, Any]:
    return {"channel": "self_service", "applicant": {"name": "欧阳娜娜", "phone": f"139{i:08d}"},
            "description": f"包工头拖欠我们三个月工资，一共两万多元（第{i}份）"}


async def test_two_processes_submitting_at_once_get_distinct_numbers(yima_infra, mongo_db_prefix) -> None:
    async with intake(yima_infra, mongo_db_prefix) as a, intake(yima_infra, mongo_db_prefix) as b:
        answers = await asyncio.gather(*((a, b)[i % 2].post("/api/v1/cases", json=body(i)) for i in range(40)))
        assert [r.status_code for r in answers] == [201] * 40, [r.text for r in answers if r.status_code != 201]
        numbers = [r.json()["case_number"] for r in answers]
        year = datetime.now(UTC).year
        assert len(set(numbers)) == 40 and all(n.startswith(f"JSQ-{year}-") for n in numbers)
        seqs = {c: sorted(int(r.json()["case_number"].rsplit("-", 1)[1]) for r in answers[i::2])
                for i, c in enumerate("ab")}
        assert not set(seqs["a"]) & set(seqs["b"])
        db = a.app.state.runtime.db  # type: ignore[attr-defined]
        counter = (await db["counters"].find_one({"_id": f"JSQ-{year}"}))["seq"]
        assert max(max(seqs["a"]), max(seqs["b"])) <= counter <= 40 + 2 * (BLOCK - 1)  # at most a block's rest each
        services = [c.app.state.intake for c in (a, b)]  # type: ignore[attr-defined]
        assert sum(s.numbers.reservations for s in services) * BLOCK == counter  # one increment per block
    # both stopped cleanly: whoever reserved last gave its rest back, the other's rest is a gap
    assert (await db_counter(yima_infra, mongo_db_prefix, year)) <= counter


async def db_counter(infra: Any, prefix: str, year: int) -> int:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongo_url)
    try:
        return int((await client[f"{prefix}yima_intake"]["counters"].find_one({"_id": f"JSQ-{year}"}))["seq"])
    finally:
        await client.close()


async def test_allocators_on_the_store_share_no_number_and_a_clean_stop_gives_the_rest_back(
        yima_infra, mongo_db_prefix) -> None:
    clients: list[AsyncMongoClient[Any]] = [AsyncMongoClient(yima_infra.mongo_url) for _ in range(2)]
    try:
        repos = [MongoCaseRepository(c[f"{mongo_db_prefix}yima_intake"]) for c in clients]
        await repos[0].setup()
        one, two = (CaseNumbers(r.reserve_case_numbers, 5, r.give_back_case_numbers) for r in repos)
        got = await asyncio.gather(*(n.take("T-2026") for _ in range(23) for n in (one, two)))
        assert len(set(got)) == 46 and max(got) <= 50
        # the counter stands at the end of the last block reserved; only that allocator can give its rest back
        counter = repos[0].counters
        last = (await counter.find_one({"_id": "T-2026"}))["seq"]
        owner, other = (one, two) if one.blocks["T-2026"].last == last else (two, one)
        rest = last - owner.blocks["T-2026"].next + 1
        # the give-back's filter is served by an index, not a scan of the counters (query-plan test, ADR 0060)
        plan = await repos[0].counters.database.command(
            "explain", {"find": "counters", "filter": {"_id": "T-2026", "seq": last}}, verbosity="queryPlanner")
        assert "COLLSCAN" not in json.dumps(plan, default=str)
        assert await other.release() == 0
        assert await owner.release() == rest
        assert (await counter.find_one({"_id": "T-2026"}))["seq"] == last - rest
        fresh = CaseNumbers(repos[0].reserve_case_numbers, 5, repos[0].give_back_case_numbers)
        assert await fresh.take("T-2026") == last - rest + 1
    finally:
        for c in clients:
            await c.close()
