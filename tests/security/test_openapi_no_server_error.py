"""schemathesis over the OpenAPI documents of routing, risk, notify and mediation, over real HTTP against real
Kafka and the MongoDB-protocol server (intake has its own: services/intake/tests/test_schemathesis.py): valid and
invalid inputs for every operation, asked with a street admin's token (the widest staff scope) — no input makes
a server error, and every 4xx has the one error shape.

Two examples per operation and mode (a smoke over ~100 operations that keeps the suite fast); the matrix
(test_authz_matrix.py) asks every route anonymously and for every role with chosen bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from yima_contracts.codes import StaffRole
from yima_devstack.live import serve_in_thread
from yima_kit.auth import TokenIssuer

pytestmark = pytest.mark.integration

SERVICES = ("routing", "risk", "notify", "mediation")
EXAMPLES = 2
STREET_ADMIN = TokenIssuer.dev().issue(staff_id="410105001-01", unit="410105001", role=StaffRole.ADMIN,
                                       unit_path=["410105", "410105001"], mfa=True)


def make_app(name: str, infra: Any) -> Any:
    common: dict[str, Any] = {"kafka_bootstrap": infra.kafka_bootstrap, "mongo_url": infra.mongo_url,
                              "mongo_db_prefix": f"f{uuid.uuid4().hex[:8]}_"}
    if name == "routing":
        from yima_routing.app import create_app as routing_app
        from yima_routing.config import RoutingSettings
        return routing_app(RoutingSettings(**common), consume=False, relay=False, sweep=False)
    if name == "risk":
        from yima_risk.app import create_app as risk_app
        from yima_risk.config import RiskSettings
        return risk_app(RiskSettings(**common), consume=False, relay=False)
    if name == "notify":
        from yima_notify.app import create_app as notify_app
        from yima_notify.config import NotifySettings
        return notify_app(NotifySettings(**common), consume=False, relay=False, worker=False)
    from yima_mediation.app import create_app as mediation_app
    from yima_mediation.config import MediationSettings
    return mediation_app(MediationSettings(**common, prefetch_font=False), consume=False, relay=False)


@pytest.fixture(scope="module", params=SERVICES)
def live(request, yima_infra) -> Iterator[tuple[str, str]]:
    with serve_in_thread(make_app(request.param, yima_infra), name=request.param) as server:
        yield request.param, server.url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_a_server_error(live, mode) -> None:
    name, url = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 5, name
    failures: list[str] = []
    for op in operations:
        label = f"{name} {op.method.upper()} {op.path}"

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {STREET_ADMIN}"}, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])
            if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", ""):
                body = response.json()
                assert "message" in body and isinstance(body.get("errors"), list), body

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, label  # nothing invalid to send (no inputs)
        except Exception as exc:  # collected: one run names every operation that failed
            failures.append(f"{label}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)
