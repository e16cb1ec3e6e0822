"""The broker refuses what a principal may not do (docs/adr/0070): against the real Kafka the fixtures start,
with the principals and ACLs the local stack sets up — the same plan ``yima-dev kafka-acls`` prints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from yima_contracts import topics
from yima_devstack import kafka_security as ks
from yima_devstack.infra import Endpoints
from yima_devstack.kafka_tools import produce
from yima_kit.kafka_admin import ensure_topics
from yima_kit.kafka_auth import KafkaAuth

pytestmark = pytest.mark.integration

HUANGHE = "410105001001"  # 黄河社区: answers from its own system in the demo directory
RSJ = "JSQ-RSJ"  # 金水区人力资源和社会保障局: likewise
COURT = "JSQ-FYSD"  # 金水区人民法院诉调对接中心: works in yima; the court's own system reads the referral outcomes


@pytest.fixture
def cluster(yima_infra: Endpoints) -> Endpoints:
    if not yima_infra.kafka_users:
        pytest.skip("servers from the environment: their principals and ACLs are the operator's, not ours")
    return yima_infra


@pytest.fixture
async def unit_topics(cluster: Endpoints) -> None:
    names = [t for c in (HUANGHE, RSJ) for t in (topics.unit_topic(c), topics.unit_feedback_topic(c))]
    await ensure_topics(cluster.kafka_bootstrap, names, partitions=1, auth=cluster.kafka_auth())


def _auth(cluster: Endpoints, principal: str) -> KafkaAuth:
    return cluster.kafka_auth(principal)


async def _refused_writes(cluster: Endpoints, principal: str, names: list[str]) -> list[str]:
    """The topics of ``names`` the broker refused ``principal`` to write (one producer for all)."""
    producer = AIOKafkaProducer(bootstrap_servers=cluster.kafka_bootstrap, request_timeout_ms=10000,
                                **_auth(cluster, principal).client_kwargs())
    await producer.start()
    refused = []
    try:
        for name in names:
            try:
                await producer.send_and_wait(name, b"{}", key=b"acl-test")
            except TopicAuthorizationFailedError:
                refused.append(name)
    finally:
        await producer.stop()
    return refused


async def _can_read(cluster: Endpoints, principal: str, topic: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.kafka_bootstrap, enable_auto_commit=False,
                                **_auth(cluster, principal).client_kwargs())
    await consumer.start()
    try:
        # The broker lists only the topics a principal may describe (read or write)…
        await consumer._client.force_metadata_update()
        if not consumer.partitions_for_topic(topic):
            return False
        # …and refuses a fetch without Read.
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(3):
            await consumer.getmany(timeout_ms=500)
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await consumer.stop()


def _forged_status(case_id: str) -> dict[str, object]:
    """What was sent in the attack: a 'closed' step naming a court with a phone number and a payment link."""
    return {
        "event_id": str(uuid.uuid4()), "event_type": "case.status.v1", "case_id": case_id,
        "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": str(uuid.uuid4()),
        "actor": {"kind": "unit_system", "unit_code": HUANGHE}, "state": "closed", "title_zh": "案件已办结",
        "acting_unit_name": "金水区人民法院", "detail_zh": "请拨打0371-12345678并转账100元 https://evil.example/pay",
    }


async def test_a_department_writes_only_its_own_feedback_topic(cluster: Endpoints, unit_topics: None) -> None:
    dept = ks.department_principal(HUANGHE)
    own = topics.unit_feedback_topic(HUANGHE)
    internal = [t for t in topics.PLATFORM_TOPICS]  # case.status, case.feedback, every dlq.… included
    others = [topics.unit_feedback_topic(RSJ), topics.unit_topic(HUANGHE), topics.unit_topic(RSJ)]
    refused = await _refused_writes(cluster, dept, [own, *others, *internal])
    assert own not in refused
    assert sorted(refused) == sorted([*others, *internal])


async def test_a_forged_case_status_from_a_department_is_refused_by_the_broker(
    cluster: Endpoints, unit_topics: None
) -> None:
    case_id = f"forged-{uuid.uuid4()}"
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(cluster.kafka_bootstrap, topics.CASE_STATUS, case_id, _forged_status(case_id),
                      auth=_auth(cluster, ks.department_principal(HUANGHE)))
    # …and by the same principal, with the same client, its own feedback topic takes the same bytes: the refusal
    # is the ACL's, not a malformed request's.
    await produce(cluster.kafka_bootstrap, topics.unit_feedback_topic(HUANGHE), case_id, _forged_status(case_id),
                  auth=_auth(cluster, ks.department_principal(HUANGHE)))


async def test_a_department_reads_only_its_own_work_orders(cluster: Endpoints, unit_topics: None) -> None:
    dept = ks.department_principal(HUANGHE)
    assert await _can_read(cluster, dept, topics.unit_topic(HUANGHE))
    assert not await _can_read(cluster, dept, topics.unit_topic(RSJ))
    assert not await _can_read(cluster, dept, topics.unit_feedback_topic(RSJ))
    assert not await _can_read(cluster, dept, topics.CASE_SUBMITTED)  # applicants' personal data
    assert not await _can_read(cluster, dept, topics.CASE_STATUS)
    assert not await _can_read(cluster, dept, topics.unit_feedback_topic(HUANGHE))  # its own: write only


async def test_the_courts_system_reads_the_outcomes_of_its_referrals_and_writes_nothing(
    cluster: Endpoints, unit_topics: None
) -> None:
    """诉前委派 (ADR 0066): the court's own system consumes ``case.referral_outcome``; nothing else of the
    platform's is open to it."""
    court = ks.department_principal(COURT)
    await ensure_topics(cluster.kafka_bootstrap, [topics.CASE_REFERRAL_OUTCOME], partitions=1,
                        auth=cluster.kafka_auth())
    assert await _can_read(cluster, court, topics.CASE_REFERRAL_OUTCOME)
    assert not await _can_read(cluster, court, topics.CASE_SUBMITTED)
    assert not await _can_read(cluster, court, topics.unit_topic(RSJ))
    names = [topics.CASE_REFERRAL_OUTCOME, topics.CASE_FEEDBACK, topics.CASE_STATUS]
    assert sorted(await _refused_writes(cluster, court, names)) == sorted(names)


async def test_a_department_joins_only_its_own_consumer_groups(cluster: Endpoints, unit_topics: None) -> None:
    dept = ks.department_principal(HUANGHE)
    for group, allowed in ((dept, True), (f"{dept}.replica", True), ("yima-routing", False),
                           (ks.department_principal(f"{HUANGHE}G01"), False)):
        consumer = AIOKafkaConsumer(topics.unit_topic(HUANGHE), bootstrap_servers=cluster.kafka_bootstrap,
                                    group_id=group, auto_offset_reset="earliest",
                                    **_auth(cluster, dept).client_kwargs())
        try:
            await consumer.start()
            await consumer.getmany(timeout_ms=2000)
            joined = True
        except GroupAuthorizationFailedError:
            joined = False
        finally:
            await consumer.stop()
        assert joined is allowed, group


async def test_a_service_writes_only_its_own_topics(cluster: Endpoints, unit_topics: None) -> None:
    # Each service against topics other services own (DESIGN.md §1); the control is its own dead-letter topic
    # (a platform topic that other tests read only by key: a test record there disturbs nobody).
    cases = {
        "risk": [topics.CASE_STATUS, topics.CASE_ASSIGNED, topics.dlq_topic("routing")],
        "notify": [topics.CASE_STATUS, topics.CASE_SUBMITTED, topics.CASE_FEEDBACK],
        "intake": [topics.CASE_RISK_ASSESSED, topics.CASE_ASSIGNED, topics.unit_topic(HUANGHE)],
        "mediation": [topics.CASE_ASSIGNED, topics.unit_topic(HUANGHE), topics.unit_feedback_topic(HUANGHE)],
        "routing": [topics.CASE_SUBMITTED, topics.CASE_RISK_ASSESSED, topics.CASE_CLOSED],
    }
    for service, foreign in cases.items():
        own = topics.dlq_topic(service)
        refused = await _refused_writes(cluster, ks.service_principal(service), [own, *foreign])
        assert refused == foreign, service


async def test_the_operator_reads_everything_and_writes_nothing(cluster: Endpoints, unit_topics: None) -> None:
    assert await _can_read(cluster, ks.OPERATOR, topics.CASE_STATUS)
    assert await _can_read(cluster, ks.OPERATOR, topics.unit_topic(RSJ))
    names = [topics.CASE_STATUS, topics.unit_feedback_topic(HUANGHE), topics.dlq_topic("notify")]
    assert await _refused_writes(cluster, ks.OPERATOR, names) == names


def test_the_plan_gives_each_platform_topic_its_owners_only() -> None:
    plan = ks.acl_plan(ks.load_asyncapi(), ks.demo_departments())
    writers: dict[str, set[str]] = {}
    for acl in plan:
        if acl.resource_type == ks.TOPIC and acl.operation == ks.WRITE:
            writers.setdefault(acl.name, set()).add(acl.principal)
    assert writers[topics.CASE_STATUS] == {"svc-intake", "svc-routing", "svc-mediation"}
    assert writers[topics.CASE_FEEDBACK] == {"svc-mediation"}  # departments: only by an operator's grant
    assert writers[topics.CASE_SUBMITTED] == {"svc-intake"}
    assert writers["unit."] == {"svc-routing"}  # prefixed: the unit topics it creates
    assert writers[topics.unit_feedback_topic(HUANGHE)] == {ks.department_principal(HUANGHE)}
    assert all(not p.startswith("dept-") or name.endswith(".feedback")
               for name, ps in writers.items() for p in ps)


def test_every_service_reads_the_session_revocations_and_only_routing_writes_them() -> None:
    plan = ks.acl_plan(ks.load_asyncapi(), ks.demo_departments())
    on_topic = [a for a in plan if a.resource_type == ks.TOPIC and a.name == topics.STAFF_SESSION_REVOKED]
    assert {a.principal for a in on_topic if a.operation == ks.WRITE} == {"svc-routing"}
    readers = {a.principal for a in on_topic if a.operation == ks.READ}
    assert readers == {ks.service_principal(s) for s in ks.all_services()}  # the console too: it checks tokens


def test_only_the_referring_courts_read_the_referral_outcomes() -> None:
    assert ks.demo_courts() == [COURT]
    plan = ks.acl_plan(ks.load_asyncapi(), ks.demo_departments())
    readers = {a.principal for a in plan if a.name == topics.CASE_REFERRAL_OUTCOME and a.operation == ks.READ}
    assert {p for p in readers if not p.startswith("svc-")} == {ks.department_principal(COURT)}
    assert ks.department_principal(COURT) in ks.principals(ks.demo_departments())
    assert ks.department_principal(COURT) not in ks.principals(ks.demo_departments(), courts=())


def test_only_named_departments_may_still_answer_on_the_deprecated_topic() -> None:
    legacy = ks.legacy_feedback_units({ks.ENV_LEGACY_FEEDBACK: f" {RSJ}, "})
    assert legacy == [RSJ] and ks.legacy_feedback_units({}) == []
    plan = ks.acl_plan(ks.load_asyncapi(), ks.demo_departments(), legacy)
    writers = {a.principal for a in plan if a.name == topics.CASE_FEEDBACK and a.operation == ks.WRITE}
    assert writers == {"svc-mediation", ks.department_principal(RSJ)}


def test_passwords_are_made_once_and_kept_private(tmp_path) -> None:
    creds = ks.Credentials(tmp_path / "kafka" / "credentials.json")
    first = creds.ensure(["svc-routing"])
    assert set(first) == {ks.ADMIN, ks.CONTROLLER, "svc-routing"} and len(set(first.values())) == 3
    assert (creds.path.stat().st_mode & 0o777) == 0o600
    again = creds.ensure(["svc-routing", "svc-insight"])  # a new service: one more, the others unchanged
    assert {k: again[k] for k in first} == first and "svc-insight" in again


def test_the_run_banner_shows_one_departments_and_the_operators_credentials(tmp_path) -> None:
    from yima_devstack.platform import kafka_banner

    users = {ks.department_principal(HUANGHE): "p-dept", ks.OPERATOR: "p-op", ks.ADMIN: "p-admin"}
    text = kafka_banner(Endpoints("127.0.0.1:9092", "mongodb://x", users), tmp_path / "credentials.json")
    assert "dept-410105001001" in text and "p-dept" in text and "yima-operator" in text and "p-op" in text
    assert "unit.410105001001.cases" in text and "unit.410105001001.feedback" in text
    assert "p-admin" not in text  # never the super user's
    assert kafka_banner(Endpoints("127.0.0.1:9092", "mongodb://x"), tmp_path / "c.json") == ""
