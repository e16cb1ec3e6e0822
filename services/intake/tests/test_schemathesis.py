"""schemathesis against intake's own OpenAPI document over real HTTP: no input makes a server error.

Valid and invalid inputs (schemathesis' positive and negative generation) for every operation. The
operations are driven one by one with hypothesis (schemathesis' pytest plugin does not work with pytest 9)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_a_server_error(live_intake, mode) -> None:
    schema = schemathesis.openapi.from_url(f"{live_intake.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/cases", "/api/v1/classify", "/api/v1/track/{tracking_code}"}
    seen: dict[str, set[int]] = {}
    for op in operations:
        name = f"{op.method.upper()} {op.path}"

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case) -> None:
            response = case.call(timeout=30)
            seen.setdefault(name, set()).add(response.status_code)  # noqa: B023
            # Every answer to anything is a success or a 4xx with the Chinese error list — never a 5xx.
            case.validate_response(response, checks=[not_a_server_error])
            if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", ""):
                body = response.json()
                assert "message" in body and isinstance(body.get("errors"), list), body

        try:
            run()
        except Unsatisfiable:
            # An operation without inputs (GET /health) has no invalid variant to send.
            assert mode is GenerationMode.NEGATIVE, name
    if mode is GenerationMode.NEGATIVE:
        assert 422 in seen["POST /api/v1/cases"]
