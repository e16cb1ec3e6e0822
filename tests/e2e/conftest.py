"""Every service as its own OS process against the real broker and database (yima_infra)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from yima_devstack.infra import free_port
from yima_devstack.services import SERVICE_PORTS, Platform, service_env


@pytest.fixture(scope="session")
def query_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the services record the shapes of their queries (yima_kit.querylog; test_query_plans explains them)."""
    return Path(tmp_path_factory.mktemp("query-log"))


@pytest.fixture(scope="session")
def platform(yima_infra, tmp_path_factory: pytest.TempPathFactory, query_log_dir: Path) -> Iterator[Platform]:
    prefix = f"e2e{uuid.uuid4().hex[:6]}_"
    p = Platform(
        log_dir=Path(tmp_path_factory.mktemp("service-logs")),
        db_prefix=prefix,
        ports={n: free_port() for n in SERVICE_PORTS},
        # Each service with its own Kafka principal, as in production: a missing ACL fails the e2e tests.
        service_env=yima_infra.service_kafka_env,
    )
    env = service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url, db_prefix=prefix,
                      extra={"YIMA_CONSUMER_RETRY_BASE_SECONDS": "0.05",
                             "YIMA_MONGO_QUERY_LOG_DIR": str(query_log_dir),
                             "YIMA_CONSOLE_POLL_SECONDS": "3",
                             # sessions a few seconds ahead, at any hour: recorded once begun, within a test
                             "YIMA_MEDIATION_SESSIONS_AT_ANY_HOUR": "true"})
    p.start(env)
    try:
        p.wait_healthy(timeout=120)
        yield p
    finally:
        p.stop()
