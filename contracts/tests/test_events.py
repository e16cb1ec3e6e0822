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
