"""Outbox, idempotent consumer and dead letters against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from yima_contracts import CaseStatusChanged, headers, topics
from yima_contracts.codes import CaseState
from yima_devstack.kafka_tools import keyed, read_topic
from yima_kit.consumer import Tx
from yima_kit.kafka_auth import client_kwargs
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outgoing
from yima_kit.runtime import Runtime

pytestmark = pytest.mark.integration


def status(case_id: str, title: str = "测试") -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, correlation_id=case_id, state=CaseState.ACCEPTED, title_zh=title)


async def until(pred, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await pred()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.1)
    return result


async def test_outbox_entry_written_before_a_crash_is_published_after_restart(yima_infra, topic, kit_settings):
    first = Runtime.create(kit_settings())
    await first.outbox.setup()
    case_id = str(uuid.uuid4())
    event = status(case_id)

    async def write(session):
        await first.db["things"].insert_one({"_id": case_id}, session=session)
        await first.outbox.add(session, [Outgoing(topic, event)])

    await in_transaction(first.client, write)

    async def aborted(session):
        await first.outbox.add(session, [Outgoing(topic, status(case_id, "不应发布"))])
        raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await in_transaction(first.client, aborted)
    await first.client.close()  # the process dies before its relay ran: nothing was published yet

    second = Runtime.create(kit_settings())
    await second.start(consume=False, relay=True)
    try:
        await read_topic(yima_infra.kafka_bootstrap, topic, keyed(case_id))
        await asyncio.sleep(1)  # give a wrong second publication the chance to show up
        records = await read_topic(yima_infra.kafka_bootstrap, topic, lambda rs: rs)
        assert [json.loads(r.value)["event_id"] for r in records] == [str(event.event_id)]
        assert records[0].key == case_id.encode()  # partition key = case id
        assert dict(records[0].headers)[headers.EVENT_TYPE] == b"case.status.v1"
        # A published row is deleted at once (ADR 0212): the outbox holds only what is not yet published, under
        # one index.
        assert await second.db["outbox"].count_documents({}) == 0
        assert [i["name"] async for i in await second.db["outbox"].list_indexes()] == ["_id_"]
    finally:
        await second.stop()


async def test_an_outbox_of_the_earlier_layout_is_migrated_and_its_unsent_rows_go_in_order(
        yima_infra, topic, kit_settings):
    """ADR 0212: an outbox written by the earlier relay (rows keyed ``topic|event_id`` under a ``seq``, published
    rows kept under a TTL index) is taken over at start: published rows go, unsent ones keep their order."""
    from datetime import UTC, datetime

    from bson import ObjectId
    from yima_kit.outbox import kafka_headers

    rt = Runtime.create(kit_settings())
    col = rt.db["outbox"]
    await col.create_index([("published_at", 1), ("seq", 1)])
    await col.create_index("published_at", name="published_ttl", expireAfterSeconds=30 * 86400)
    case_id = str(uuid.uuid4())
    events = [status(case_id, f"第{i}步") for i in range(4)]
    seqs = sorted(ObjectId() for _ in events)
    now = datetime.now(UTC)
    rows = [{"_id": f"{topic}|{e.event_id}", "seq": seq, "topic": topic, "key": case_id,
             "event_type": e.event_type, "payload": e.model_dump_json(), "headers": kafka_headers(e),
             "created_at": now, "published_at": now if i == 0 else None}
            for i, (e, seq) in enumerate(zip(events, seqs, strict=True))]
    await col.insert_many(list(reversed(rows)))  # stored out of order: the sequence decides

    await rt.start(consume=False, relay=True)
    try:
        records = await read_topic(yima_infra.kafka_bootstrap, topic, keyed(case_id, 3))
        assert [json.loads(r.value)["event_id"] for r in records] == [str(e.event_id) for e in events[1:]]
        await until(lambda: _empty(col))
        assert [i["name"] async for i in await col.list_indexes()] == ["_id_"]
        await rt.outbox.setup()  # again: nothing left to do
    finally:
        await rt.stop()


async def _empty(col) -> bool:
    return await col.count_documents({}) == 0


async def test_consumer_is_idempotent_and_dead_letters_after_bounded_retries(yima_infra, topic, kit_settings):
    rt = Runtime.create(kit_settings())
    attempts: dict[str, int] = {}

    @rt.consumers.subscribe(topic, CaseStatusChanged, name="probe", group_id=f"g-{topic}")
    async def handle(event: CaseStatusChanged, tx: Tx) -> None:
        attempts[event.case_id] = attempts.get(event.case_id, 0) + 1
        if event.title_zh == "坏":
            raise ValueError("this one always fails")
        await rt.db["effects"].insert_one({"case_id": event.case_id}, session=tx.session)
        tx.emit(f"{topic}.out", status(event.case_id, "结果"))

    await rt.start()
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        good, bad, after = status("case-good"), status("case-bad", "坏"), status("case-after")
        for e in (good, good, bad, after):  # the good one delivered twice
            await producer.send_and_wait(topic, e.model_dump_json().encode(), key=e.case_id.encode())
        await producer.send_and_wait(topic, b"{not json", key=b"case-garbage")

        await until(lambda: rt.db["effects"].count_documents({"case_id": "case-after"}))
        assert await rt.db["effects"].count_documents({"case_id": "case-good"}) == 1
        out = await read_topic(yima_infra.kafka_bootstrap, f"{topic}.out", lambda rs: rs if len(rs) >= 2 else None)
        assert sorted(r.key for r in out) == [b"case-after", b"case-good"]

        dead = [
            *(await read_topic(yima_infra.kafka_bootstrap, topics.dlq_topic("mediation"), keyed("case-bad"))),
            *(await read_topic(yima_infra.kafka_bootstrap, topics.dlq_topic("mediation"), keyed("case-garbage"))),
        ]
        by_key = {r.key: dict(r.headers) for r in dead}
        assert by_key[b"case-bad"][headers.DLQ_ERROR_KIND] == b"failed"
        assert by_key[b"case-bad"][headers.DLQ_ATTEMPTS] == b"3"
        assert b"this one always fails" in by_key[b"case-bad"][headers.DLQ_ERROR]
        assert by_key[b"case-garbage"][headers.DLQ_ERROR_KIND] == b"invalid"
        assert attempts["case-bad"] == 3
        from prometheus_client import REGISTRY

        sample = REGISTRY.get_sample_value
        assert sample("yima_events_duplicate_total", {"consumer": "mediation.probe"}) == 1
        assert sample("yima_events_dead_lettered_total", {"consumer": "mediation.probe", "kind": "failed"}) == 1
    finally:
        await producer.stop()
        await rt.stop()


async def test_a_batch_subscriber_gets_a_polls_events_at_once_and_a_failing_one_alone(yima_infra, topic, kit_settings):
    """subscribe_batch: the poll's new events in one call (duplicates left out); when the call fails, each event
    is retried alone, the bad one dead-lettered, the others applied once."""
    rt = Runtime.create(kit_settings())
    calls: list[list[str]] = []

    @rt.consumers.subscribe_batch(topic, CaseStatusChanged, name="batchprobe", group_id=f"gb-{topic}")
    async def handle(events: list[CaseStatusChanged], tx: Tx) -> None:
        calls.append([e.case_id for e in events])
        if any(e.title_zh == "坏" for e in events):
            raise ValueError("a bad one in the batch")
        await rt.db["batch_effects"].insert_many([{"case_id": e.case_id} for e in events], session=tx.session)

    key = f"k-{topic}"  # one partition: the order holds
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        one, two, bad = status("b-one"), status("b-two"), status("b-bad", "坏")
        for e in (one, one, two):  # delivered before the consumer starts: one poll finds them together
            await producer.send_and_wait(topic, e.model_dump_json().encode(), key=key.encode())
        await rt.start()
        await until(lambda: rt.db["batch_effects"].count_documents({"case_id": "b-two"}))
        assert ["b-one", "b-two"] in calls  # one call for the poll, the duplicate left out
        await producer.send_and_wait(topic, bad.model_dump_json().encode(), key=key.encode())
        await producer.send_and_wait(topic, status("b-after").model_dump_json().encode(), key=key.encode())
        await until(lambda: rt.db["batch_effects"].count_documents({"case_id": "b-after"}))
        dead = await read_topic(yima_infra.kafka_bootstrap, topics.dlq_topic("mediation"), keyed(key))
        assert any(dict(r.headers)[headers.DLQ_CONSUMER] == b"mediation.batchprobe" for r in dead)
        for case_id in ("b-one", "b-two", "b-after"):
            assert await rt.db["batch_effects"].count_documents({"case_id": case_id}) == 1
        assert await rt.db["batch_effects"].count_documents({"case_id": "b-bad"}) == 0
    finally:
        await producer.stop()
        await rt.stop()


async def test_a_busy_processs_commits_are_published_in_few_relay_rounds(yima_infra, topic, kit_settings):
    """Issue 12: a relay woken by every commit read and marked the outbox once per commit; it now starts a round at
    most every ``outbox_gather_seconds``, so commits close together are published and marked together."""
    rt = Runtime.create(kit_settings().model_copy(update={"outbox_gather_seconds": 0.4}))
    await rt.outbox.setup()
    rounds = 0
    mark = rt.outbox.mark_published

    async def counted(ids: list[str]) -> None:
        nonlocal rounds
        rounds += 1
        await mark(ids)

    rt.outbox.mark_published = counted  # type: ignore[method-assign]
    await rt.start(consume=False, relay=True)
    try:
        async def commit(case_id: str) -> None:
            async def work(tx: Tx) -> None:
                tx.emit(topic, status(case_id))

            await rt.consumers.uow.run(work)

        first = str(uuid.uuid4())
        await commit(first)  # the relay holds its lease and its producer is up
        await read_topic(yima_infra.kafka_bootstrap, topic, keyed(first))
        rounds = 0
        cases = [str(uuid.uuid4()) for _ in range(10)]
        for c in cases:  # ten commits 30 ms apart: one round each before
            await commit(c)
            await asyncio.sleep(0.03)
        records = await read_topic(yima_infra.kafka_bootstrap, topic, lambda rs: rs if len(rs) >= 11 else None)
        assert sorted(r.key.decode() for r in records) == sorted([first, *cases])
        assert rounds <= 3, rounds
    finally:
        await rt.stop()


async def test_a_groups_handlers_share_one_consumer_and_keep_their_own_ledger_and_dead_letters(
        yima_infra, topic, kit_settings):
    """Folded consumers (ADR 0201): two handlers of one group read two topics through ONE Kafka consumer; each
    handler's events are applied once in its own unit of work, and a poison message of one topic blocks neither
    the other topic nor the rest of its own."""
    rt = Runtime.create(kit_settings())
    other = f"{topic}.out"  # the fixture's second topic, read here by the second handler
    seen: dict[str, list[str]] = {"a": [], "b": []}

    @rt.consumers.subscribe(topic, CaseStatusChanged, name="fold_a", group_id=f"gf-{topic}")
    async def handle_a(event: CaseStatusChanged, tx: Tx) -> None:
        seen["a"].append(event.case_id)
        if event.title_zh == "坏":
            raise ValueError("poison")
        await rt.db["fold_effects"].insert_one({"h": "a", "case_id": event.case_id}, session=tx.session)

    @rt.consumers.subscribe_batch(other, CaseStatusChanged, name="fold_b", group_id=f"gf-{topic}")
    async def handle_b(events: list[CaseStatusChanged], tx: Tx) -> None:
        seen["b"].extend(e.case_id for e in events)
        await rt.db["fold_effects"].insert_many([{"h": "b", "case_id": e.case_id} for e in events],
                                                session=tx.session)

    await rt.start()
    assert len(rt.broker.subscribers) == 1  # one Kafka consumer for the group's two topics
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        same = status("f-same")  # the same event on both topics: each handler applies it once
        for t, e in ((topic, same), (topic, same), (topic, status("f-bad", "坏")), (topic, status("f-a")),
                     (other, same), (other, same), (other, status("f-b"))):
            await producer.send_and_wait(t, e.model_dump_json().encode(), key=e.case_id.encode())
        await until(lambda: rt.db["fold_effects"].count_documents({"case_id": {"$in": ["f-a", "f-b"]}}))
        await until(lambda: rt.db["fold_effects"].count_documents({"h": "b", "case_id": "f-same"}))
        await until(lambda: rt.db["fold_effects"].count_documents({"h": "a", "case_id": "f-same"}))
        await until(lambda: rt.db["fold_effects"].count_documents({"h": "a", "case_id": "f-a"}))
        for h, case_id in (("a", "f-same"), ("b", "f-same"), ("a", "f-a"), ("b", "f-b")):
            assert await rt.db["fold_effects"].count_documents({"h": h, "case_id": case_id}) == 1
        dead = await read_topic(yima_infra.kafka_bootstrap, topics.dlq_topic("mediation"), keyed("f-bad"))
        assert dict(dead[0].headers)[headers.DLQ_CONSUMER] == b"mediation.fold_a"
        assert "f-bad" not in seen["b"]
    finally:
        await producer.stop()
        await rt.stop()


async def test_an_event_committed_by_another_delivery_after_the_batchs_look_is_applied_once(
        yima_infra, topic, kit_settings):
    """ADR 0218: a batch looks its events up in the ledger before its transaction. Another delivery (a replica
    after a rebalance) that commits one of them in between makes the batch's ledger insert fail: the batch is
    undone whole and its events go one by one — the raced one is known then, the other applied once."""
    rt = Runtime.create(kit_settings())
    effects = rt.db["race_effects"]
    calls: list[list[str]] = []

    @rt.consumers.subscribe_batch(topic, CaseStatusChanged, name="raceprobe", group_id=f"gr-{topic}")
    async def handle(events: list[CaseStatusChanged], tx: Tx) -> None:
        calls.append([e.case_id for e in events])
        await effects.insert_many([{"case_id": e.case_id} for e in events], session=tx.session)

    one, two = status("r-one"), status("r-two")
    run = rt.consumers.uow.run

    done: list[bool] = []

    async def raced(work):  # what the other replica committed just before this batch's transaction
        if not done:
            done.append(True)
            await rt.db["processed_events"].insert_one({"_id": f"{rt.consumers.service}.raceprobe|{one.event_id}"})
            await effects.insert_one({"case_id": "r-one", "by": "the other replica"})
        return await run(work)

    rt.consumers.uow.run = raced
    key = f"k-{topic}"
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        for e in (one, two):  # delivered before the consumer starts: one poll finds them together
            await producer.send_and_wait(topic, e.model_dump_json().encode(), key=key.encode())
        await rt.start()
        await until(lambda: effects.count_documents({"case_id": "r-two"}))
        await asyncio.sleep(1.0)
        assert await effects.count_documents({"case_id": "r-one"}) == 1
        assert await effects.count_documents({"case_id": "r-two"}) == 1
        assert calls == [["r-two"]]  # the batch undone at its ledger insert, then one by one: r-one known
    finally:
        await producer.stop()
        await rt.stop()


async def test_one_batch_at_a_time_keeps_a_groups_handlers_from_overlapping_on_a_shared_document(
        yima_infra, topic, kit_settings):
    """``one_batch_at_a_time`` (insight, risk): the shares of a folded poll run one after another, so two handlers
    that write the same document never hold concurrent transactions on it — no write conflict, no batch redone."""
    rt = Runtime.create(kit_settings())
    rt.consumers.one_batch_at_a_time()
    other = f"{topic}.out"
    active, most, calls = 0, 0, 0

    async def count(events: list[CaseStatusChanged], tx: Tx) -> None:
        nonlocal active, most, calls
        active += 1
        calls += 1
        most = max(most, active)
        try:
            await rt.db["shared_effects"].update_one({"_id": topic}, {"$inc": {"n": len(events)}}, upsert=True,
                                                     session=tx.session)
            await asyncio.sleep(0.2)  # a transaction that stays open: another handler's would overlap it
        finally:
            active -= 1

    rt.consumers.subscribe_batch(topic, CaseStatusChanged, name="serial_a", group_id=f"gs-{topic}")(count)
    rt.consumers.subscribe_batch(other, CaseStatusChanged, name="serial_b", group_id=f"gs-{topic}")(count)
    await rt.start()
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        for k in range(6):
            for t in (topic, other):
                e = status(f"s-{k}")
                await producer.send(t, e.model_dump_json().encode(), key=e.case_id.encode())
        await producer.flush()

        async def all_counted() -> bool:
            doc = await rt.db["shared_effects"].find_one({"_id": topic})
            return bool(doc and doc["n"] == 12)

        await until(all_counted)
        await asyncio.sleep(0.5)
        assert most == 1 and calls <= 12, (most, calls)
        assert (await rt.db["shared_effects"].find_one({"_id": topic}))["n"] == 12  # none applied twice
    finally:
        await producer.stop()
        await rt.stop()


async def test_a_share_marked_first_is_committed_before_the_other_shares_of_the_poll_start(
        yima_infra, topic, kit_settings):
    """``subscribe_batch(first=True)`` (notify's contacts): a poll bringing a case's contact and a step that needs it
    commits the contact before the step's share starts, so the step finds it instead of being parked."""
    rt = Runtime.create(kit_settings())
    other = f"{topic}.out"
    found: list[bool] = []

    async def contacts(events: list[CaseStatusChanged], tx: Tx) -> None:
        await asyncio.sleep(0.3)  # a slow share: without ``first`` the step's share would run meanwhile
        await rt.db["first_contacts"].insert_many([{"_id": e.case_id} for e in events], session=tx.session)

    async def steps(events: list[CaseStatusChanged], tx: Tx) -> None:
        for e in events:
            found.append(await rt.db["first_contacts"].find_one({"_id": e.case_id}, session=tx.session) is not None)

    rt.consumers.subscribe_batch(topic, CaseStatusChanged, name="first_a", group_id=f"gp-{topic}",
                                 first=True)(contacts)
    rt.consumers.subscribe_batch(other, CaseStatusChanged, name="first_b", group_id=f"gp-{topic}")(steps)
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        for k in range(3):  # all waiting before the consumer starts: its first poll brings both topics
            e = status(f"p-{k}")
            for t in (other, topic):
                await producer.send(t, e.model_dump_json().encode(), key=e.case_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    await rt.start()
    try:
        await until(lambda: asyncio.sleep(0, len(found) == 3))
        assert found == [True, True, True]
    finally:
        await rt.stop()
