"""A labelled set of realistic descriptions (as residents, grid workers and receptionists write them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from yima_contracts.codes import Category
from yima_risk.core.rules import CaseFacts, assess

CASES = yaml.safe_load((Path(__file__).parent / "data" / "labelled_cases.yaml").read_text(encoding="utf-8"))


def test_the_set_covers_every_level_and_many_categories() -> None:
    assert {c["level"] for c in CASES} == {"red", "yellow", "blue"}
    assert len({c["category"] for c in CASES}) >= 10 and len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:12] for c in CASES])
def test_labelled_description_gets_its_level(rules, case) -> None:
    a = assess(CaseFacts(category=Category(case["category"]), description=case["text"],
                         submitted_at=datetime(2026, 11, 23, tzinfo=UTC)), rules)
    fired = {h.rule_id for h in a.hits}
    assert a.level.value == case["level"], a.reason_zh
    assert set(case.get("rules", [])) <= fired, a.reason_zh
    assert not set(case.get("not_rules", [])) & fired, a.reason_zh
