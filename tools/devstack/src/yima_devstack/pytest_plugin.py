"""pytest fixtures for real Kafka + MongoDB (auto-loaded through the ``pytest11`` entry point).

``yima_infra`` (session) provides the infrastructure, first match wins:

1. ``YIMA_KAFKA_BOOTSTRAP`` and ``YIMA_MONGO_URL`` both set: use those servers as they are;
2. a Docker engine answers: official ``apache/kafka`` and ``mongo:7`` (single-node replica set) containers;
3. otherwise: ``LocalInfra`` (Kafka from Maven Central + SecantusDB) in a fresh temporary directory.

With the local servers, the broker authenticates every client and authorises by ACL (docs/adr/0070): the
fixture puts the super user's credentials into the ``YIMA_KAFKA_…`` environment for the session, so every
client a test opens (and every service process it starts, unless given its own principal) gets them; the
principals' passwords are in ``yima_infra.kafka_users``. With servers from the environment, the
``YIMA_KAFKA_…`` credentials given there are used as they are.

The platform topics are created before the fixture yields. If no option works the fixture raises with
the reason: tests that need infrastructure never skip silently.

Heavy imports (aiokafka, pymongo, testcontainers) happen inside the fixtures, because this plugin is
loaded by every pytest run in the workspace, including pure unit-test runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .infra import Endpoints

ENV_KAFKA = "YIMA_KAFKA_BOOTSTRAP"
ENV_MONGO = "YIMA_MONGO_URL"
ENV_READY_TIMEOUT_S = 30.0


def pytest_configure(config: pytest.Config) -> None:
    # Declared here too so the fixtures work in a project whose own config lacks the marker.
    config.addinivalue_line("markers", "integration: needs the real Kafka broker and MongoDB-protocol server")


def _from_environment() -> Endpoints | None:
    from .infra import Endpoints, InfraError
    from .readiness import NotReadyError, wait_for_kafka, wait_for_mongo

    kafka, mongo = os.environ.get(ENV_KAFKA), os.environ.get(ENV_MONGO)
    if not kafka and not mongo:
        return None
    if not (kafka and mongo):
        # Half a configuration is a mistake, not a reason to start other servers behind the user's back.
        raise InfraError(f"set both {ENV_KAFKA} and {ENV_MONGO}, or neither")
    try:
        wait_for_kafka(kafka, ENV_READY_TIMEOUT_S)
        wait_for_mongo(mongo, ENV_READY_TIMEOUT_S)
    except NotReadyError as exc:
        raise InfraError(f"servers given by {ENV_KAFKA}/{ENV_MONGO} do not answer: {exc}") from exc
    return Endpoints(kafka_bootstrap=kafka, mongo_url=mongo)


def _provide(stack: contextlib.ExitStack, tmp_path_factory: pytest.TempPathFactory) -> Endpoints:
    endpoints = _from_environment()
    if endpoints is not None:
        return endpoints

    from .containers import docker_available

    if docker_available():
        from .containers import docker_infra

        return stack.enter_context(docker_infra())

    from .infra import LocalInfra

    infra = LocalInfra(tmp_path_factory.mktemp("yima-infra"))
    infra.install()
    stack.callback(infra.stop)  # registered before start(): a half-started pair is stopped too
    return infra.start()


@pytest.fixture(scope="session")
def yima_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """Kafka bootstrap address and MongoDB URL of servers that answer, with the platform topics created."""
    from ._aio import run_sync
    from .topics import ensure_topics, platform_topics

    with contextlib.ExitStack() as stack:
        endpoints = _provide(stack, tmp_path_factory)
        if endpoints.kafka_users:
            saved = dict(os.environ)
            os.environ.update(endpoints.kafka_auth().as_env())
            stack.callback(_restore_env, saved)
        run_sync(ensure_topics(endpoints.kafka_bootstrap, platform_topics()))
        yield endpoints


def _restore_env(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def mongo_db_prefix() -> str:
    """A short unique prefix (``t<8 hex>_``) for database names, so tests never see each other's data,
    even against a long-lived server given in the environment."""
    return f"t{secrets.token_hex(4)}_"
