from __future__ import annotations

from datetime import UTC, datetime

import pytest
from yima_risk.core.ruleset import RuleSet, load_rules

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()
