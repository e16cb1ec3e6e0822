import json
from uuid import uuid4

import pytest
from pydantic import ValidationError
from yima_contracts import EVENT_MODELS, CaseFeedback, CaseSubmitted, parse_event, topics


def _submitted(**over):
    base = dict(
        case_id="c1", correlation_id="c1", case_number="JSQ-2026-000001", tracking_code="ABCDEFGHJKMN",
        channel="self_service", category="neighbour", category_source="classifier",
        description="楼上漏水", applicant={"name": "张三", "phone": "13812345678"},
        submitted_at="2026-11-23T08:00:00Z",
    )
    base.update(over)
    return CaseSubmitted.model_validate(base)


def test_round_trip_through_json_keeps_the_envelope() -> None:
    e = _submitted()
    back = parse_event(e.model_dump_json())
    assert back == e
    assert back.event_type == "case.submitted.v1"
    assert back.occurred_at.tzinfo is not None


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        _submitted(submitted_at="2026-11-23T08:00:00")


def test_wrong_event_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        _submitted(event_type="case.submitted.v2")


def test_unknown_event_type() -> None:
    with pytest.raises(ValueError, match="unknown event_type"):
        parse_event(json.dumps({"event_type": "case.nope.v1"}))


@pytest.mark.parametrize("kind", ["returned", "failed"])
def test_returned_and_failed_feedback_need_a_reason(kind: str) -> None:
    base = dict(case_id="c1", correlation_id="c1", assignment_id="a1", unit_code="410105001001", kind=kind)
    with pytest.raises(ValidationError, match="needs a reason"):
        CaseFeedback.model_validate(base)
    assert CaseFeedback.model_validate({**base, "reason": "不属于本单位职责"}).reason


def test_every_event_type_is_versioned_and_unique() -> None:
    types = [m.EVENT_TYPE for m in EVENT_MODELS]
    assert len(types) == len(set(types))
    assert all(t.rsplit(".", 1)[1].startswith("v") for t in types)


def test_unit_topic_names() -> None:
    assert topics.unit_topic("410105001001") == "unit.410105001001.cases"
    with pytest.raises(ValueError):
        topics.unit_topic("bad code/../x")
    assert topics.dlq_topic("routing") == "dlq.routing"


def test_event_ids_are_unique_per_instance() -> None:
    assert _submitted().event_id != _submitted().event_id
    assert isinstance(uuid4(), type(_submitted().event_id))


def test_every_event_has_a_topic_and_every_platform_topic_its_events() -> None:
    from yima_contracts import TOPIC_EVENTS

    on_topics = {m for models in TOPIC_EVENTS.values() for m in models}
    assert on_topics == set(EVENT_MODELS)
    for t in topics.PLATFORM_TOPICS:
        assert t.startswith("dlq.") or t in TOPIC_EVENTS, t


def _invited(**over):
    from yima_contracts import ExpertInvited

    base = dict(
        case_id="c1", correlation_id="c1", invitation_id="i1", assignment_id="a1", unit_code="JSQ-LDTJ",
        unit_name="金水区劳动争议调解委员会", person_id="p-1", expert_kind="lawyer", expert_name="李明",
        expert_phone="+86 138-1234-5678", case_number="JSQ-2026-000042", category="labour_wages",
        reply_zh="请尽快联系金水区劳动争议调解委员会答复是否参加",
    )
    base.update(over)
    return ExpertInvited.model_validate(base)


def test_an_expert_invitation_travels_on_its_topic_keyed_by_the_case() -> None:
    from yima_contracts import TOPIC_EVENTS, ExpertInvited

    e = _invited(mode="offline", starts_at="2026-11-25T02:00:00Z", place_zh="第一调解室", session_id="s1")
    assert e.event_type == "mediation.expert_invited.v1"
    assert parse_event(e.model_dump_json()) == e
    assert e.expert_phone == "13812345678"  # normalised like every phone of the platform
    assert TOPIC_EVENTS[topics.MEDIATION_EXPERT_INVITED] == (ExpertInvited,)
    assert topics.MEDIATION_EXPERT_INVITED in topics.PLATFORM_TOPICS
    assert e.case_id == "c1"  # the outbox keys every event by case_id: the partition key
    assert _invited(expert_phone=None).expert_phone is None  # no phone: the inbox only


@pytest.mark.parametrize(("field", "value"), [
    ("expert_phone", "12345"), ("expert_kind", "astrologer"), ("category", "gossip"), ("unit_code", "bad code"),
    ("starts_at", "2026-11-25T10:00:00"), ("mode", "phone"),
])
def test_a_malformed_expert_invitation_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        _invited(**{field: value})


def test_an_expert_invitation_carries_no_party_data() -> None:
    from yima_contracts import ExpertInvited

    party_fields = {"applicant", "respondent", "parties", "description", "tracking_code"}
    assert not party_fields & set(ExpertInvited.model_fields)


def _answered(**over):
    from yima_contracts import ExpertAnswered

    base = dict(
        case_id="c1", correlation_id="c1", invitation_id="i1", assignment_id="a1", unit_code="JSQ-LDTJ",
        person_id="p-1", expert_kind="lawyer", expert_name="李明", answer="declined", reason_zh="当天有庭审",
        answered_by="expert", case_number="JSQ-2026-000042",
    )
    base.update(over)
    return ExpertAnswered.model_validate(base)


def test_an_expert_answer_travels_on_its_topic_keyed_by_the_case() -> None:
    from yima_contracts import TOPIC_EVENTS, ExpertAnswered

    e = _answered()
    assert e.event_type == "mediation.expert_answered.v1"
    assert parse_event(e.model_dump_json()) == e
    assert TOPIC_EVENTS[topics.MEDIATION_EXPERT_ANSWERED] == (ExpertAnswered,)
    assert topics.MEDIATION_EXPERT_ANSWERED in topics.PLATFORM_TOPICS
    assert e.case_id == "c1"  # the outbox keys every event by case_id: the partition key
    ok = _answered(answer="accepted", reason_zh=None, answered_by="staff")
    assert parse_event(ok.model_dump_json()) == ok and ok.reason_zh is None
    refused = _answered(answer="refused_conflict", reason_zh="与本案第三人存在亲属关系，应当回避")
    assert refused.answer == "refused_conflict"


@pytest.mark.parametrize(("field", "value"), [
    ("answer", "maybe"), ("answered_by", "staff:s-1"), ("expert_kind", "astrologer"), ("unit_code", "bad code"),
    ("expert_name", ""), ("reason_zh", "因" * 501),
])
def test_a_malformed_expert_answer_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        _answered(**{field: value})


def test_an_expert_answer_carries_no_party_data_and_no_phone() -> None:
    from yima_contracts import ExpertAnswered

    fields = set(ExpertAnswered.model_fields)
    assert not {"applicant", "respondent", "parties", "description", "tracking_code"} & fields
    assert not any("phone" in f for f in fields)


def test_one_of_parses_each_of_its_event_types_and_refuses_others() -> None:
    from datetime import UTC, datetime

    from yima_contracts import one_of
    from yima_contracts.routing_events import JointReport

    answer = one_of(CaseFeedback, JointReport)
    envelope = {"event_id": str(uuid4()), "case_id": "c-1", "occurred_at": datetime.now(UTC).isoformat(),
                "correlation_id": str(uuid4()), "actor": {"kind": "unit_system", "unit_code": "JSQ-ZJJ"}}
    report = answer.model_validate_json(json.dumps({**envelope, "event_type": "case.joint_report.v1",
                                                    "joint_id": "j-1", "unit_code": "JSQ-ZJJ", "note": "已到场"}))
    assert isinstance(report, JointReport) and report.note == "已到场"
    feedback = answer.model_validate_json(json.dumps({**envelope, "event_type": "case.feedback.v1",
                                                      "assignment_id": "a-1", "unit_code": "JSQ-ZJJ",
                                                      "kind": "accepted"}))
    assert isinstance(feedback, CaseFeedback)
    with pytest.raises(ValidationError):  # another event type does not belong here
        answer.model_validate_json(json.dumps({**envelope, "event_type": "case.status.v1", "state": "closed"}))
    schema = answer.model_json_schema()
    assert {"CaseFeedback", "JointReport"} <= set(schema["$defs"])
    with pytest.raises(ValueError):
        one_of(CaseFeedback)
