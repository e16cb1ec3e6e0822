"""Group commit (``yima_kit.uow.Together``, ADR 0219) against the real MongoDB-protocol server: the use cases that
arrive while a transaction commits share the next one; one refused item fails no other; each caller learns its own
outcome; a lone caller waits for nobody."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pymongo.errors import DuplicateKeyError
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState
from yima_kit.mongo import insert_all
from yima_kit.runtime import Runtime
from yima_kit.uow import Together, Tx, UnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
async def rt(kit_settings):
    rt = Runtime.create(kit_settings())
    await rt.outbox.setup()
    await rt.db["things"].create_index("code", unique=True)
    try:
        yield rt
    finally:
        await rt.client.close()


def writer(rt: Runtime, groups: list[list[str]]):
    async def write(items: list[dict], tx: Tx) -> None:
        groups.append([i["_id"] for i in items])
        await insert_all(rt.db["things"], [dict(i) for i in items], session=tx.session)
        for i in items:
            tx.emit("test.things", CaseStatusChanged(case_id=i["_id"], correlation_id=i["_id"],
                                                     state=CaseState.ACCEPTED, title_zh="已受理"))
    return write


async def test_callers_that_arrive_together_share_one_transaction_and_a_refused_one_fails_no_other(rt) -> None:
    groups: list[list[str]] = []
    together = Together(UnitOfWork(rt.client, rt.outbox), writer(rt, groups))
    await rt.db["things"].insert_one({"_id": "old", "code": "taken"})
    items = [{"_id": f"t{i}", "code": f"c{i}"} for i in range(6)]
    items.insert(3, {"_id": "dup", "code": "taken"})  # a unique index refuses this one
    outcomes = await asyncio.gather(*(together.run(i) for i in items), return_exceptions=True)

    assert [type(o).__name__ for o in outcomes] == ["NoneType"] * 3 + ["DuplicateKeyError"] + ["NoneType"] * 3
    assert groups[0] == [i["_id"] for i in items]  # all seven tried in one transaction first …
    assert groups[1:] == [[i["_id"]] for i in items]  # … then each alone, with its own outcome
    assert sorted([d["_id"] async for d in rt.db["things"].find({"_id": {"$ne": "old"}})]) == \
        sorted(i["_id"] for i in items if i["_id"] != "dup")
    staged = sorted([d["key"] async for d in rt.db["outbox"].find({"topic": "test.things"})])
    assert staged == sorted(i["_id"] for i in items if i["_id"] != "dup")  # the refused one's event is not staged


async def test_callers_arriving_while_one_commits_go_in_the_next_and_a_lone_caller_alone(rt) -> None:
    groups: list[list[str]] = []
    write = writer(rt, groups)
    committing, release = asyncio.Event(), asyncio.Event()

    async def slow_first(items: list[dict], tx: Tx) -> None:
        if not groups:  # the first transaction stays open until the others have come
            committing.set()
            await release.wait()
        await write(items, tx)

    together = Together(UnitOfWork(rt.client, rt.outbox), slow_first, max_items=8)
    first = asyncio.create_task(together.run({"_id": "b-first", "code": uuid.uuid4().hex}))
    await committing.wait()
    burst = [{"_id": f"b{i:02d}", "code": uuid.uuid4().hex} for i in range(19)]
    later = [asyncio.create_task(together.run(item)) for item in burst]
    await asyncio.sleep(0.05)  # every later caller is waiting now
    release.set()
    await asyncio.gather(first, *later)
    # the first alone, then the 19 that came meanwhile in groups of at most 8, in the order they came
    assert groups == [["b-first"], *[[i["_id"] for i in burst[k:k + 8]] for k in range(0, 19, 8)]]
    assert together.groups == 3
    assert await rt.db["things"].count_documents({"_id": {"$regex": "^b"}}) == 20

    groups.clear()
    await together.run({"_id": "alone", "code": "alone"})  # nobody else: committed at once, alone
    assert groups == [["alone"]] and together.groups == 3


async def test_an_error_of_a_lone_caller_is_its_own(rt) -> None:
    groups: list[list[str]] = []
    together = Together(UnitOfWork(rt.client, rt.outbox), writer(rt, groups))
    await together.run({"_id": "x1", "code": "same"})
    with pytest.raises(DuplicateKeyError):
        await together.run({"_id": "x2", "code": "same"})
    await together.run({"_id": "x3", "code": "other"})  # the committer goes on after a failure
    assert groups == [["x1"], ["x2"], ["x3"]]
