"""The example department consumer speaks the published contract."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from yima_contracts import CaseFeedback, UnitCaseAssigned

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "department_consumer.py"


def _example():
    spec = importlib.util.spec_from_file_location("department_consumer", EXAMPLE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ORDER = UnitCaseAssigned(
    case_id="c-1", correlation_id="c-1", assignment_id=str(uuid.uuid4()), unit_code="JSQ-RSJ",
    case_number="JSQ-2026-000001", channel="reception", category="labour_wages", risk_level="yellow",
    description="拖欠工资", applicant={"name": "张三", "phone": "13812345678"}, location={},
    supervisor_unit_code="410105", supervisor_unit_name="金水区矛盾纠纷多元化解中心",
    due_at=datetime(2026, 10, 10, 10, tzinfo=UTC),
).model_dump(mode="json")


@pytest.mark.parametrize("kind,reason", [("accepted", None), ("progress", None), ("resolved", None),
                                         ("returned", "不属于本部门职责"), ("failed", "双方分歧较大")])
def test_the_examples_answers_validate_against_the_feedback_contract(kind, reason) -> None:
    fb = CaseFeedback.model_validate(_example().feedback(ORDER, kind, reason=reason, note="说明"))
    assert fb.assignment_id == ORDER["assignment_id"] and fb.unit_code == "JSQ-RSJ" and fb.kind.value == kind
