"""Kafka and MongoDB in Docker containers (official images), for machines where a Docker engine answers.

Imported only when Docker is available: testcontainers and the docker SDK are dev-group dependencies.

testcontainers' own ``KafkaContainer`` drives Confluent's image (it edits /etc/confluent/docker/*), so
the official ``apache/kafka`` image is started here the way testcontainers-java does it: the container
waits for a start script, which is copied in once the mapped host port is known, because the broker
must advertise the address clients on the host actually reach.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator

from testcontainers.core.container import DockerContainer

from .infra import Endpoints, InfraError, new_cluster_id
from .readiness import NotReadyError, wait_for_kafka, wait_for_mongo

KAFKA_IMAGE = "apache/kafka:4.1.1"  # same version as the local broker (deploy/local/kafka/pom.xml)
MONGO_IMAGE = "mongo:7"
KAFKA_PORT = 9092  # host-facing listener inside the container
START_SCRIPT = "/tmp/yima-kafka-start.sh"
READY_TIMEOUT_S = 120.0  # includes the JVM start; image pulls happen before this clock starts
LOG_TAIL_CHARS = 4000

# Same broker settings as deploy/local/kafka/server.properties.template, in the image's KAFKA_* form.
# BROKER is the in-container listener for inter-broker traffic; PLAINTEXT is what the host connects to.
_KAFKA_ENV = {
    "KAFKA_NODE_ID": "1",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
    "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{KAFKA_PORT},BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_NUM_PARTITIONS": "6",
    "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "6",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "6",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
}

_MONGO_INIT = (
    "try { rs.status().ok } catch (e) { rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'localhost:27017'}]}).ok }"
)


def docker_available() -> bool:
    """True if a Docker engine answers a ping (a docker CLI without an engine does not count)."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no permission: all mean "no usable Docker"
        return False


def _running(container: DockerContainer) -> bool:
    container.reload()
    return container.status == "running"


def _logs_tail(container: DockerContainer) -> str:
    with contextlib.suppress(Exception):
        out, err = container.get_logs()
        return (out + err).decode(errors="replace")[-LOG_TAIL_CHARS:]
    return "(logs unavailable)"


def _start_kafka(container: DockerContainer) -> str:
    container.with_envs(**_KAFKA_ENV, CLUSTER_ID=new_cluster_id()).with_exposed_ports(KAFKA_PORT)
    container.with_command(["sh", "-c", f"while [ ! -f {START_SCRIPT} ]; do sleep 0.1; done; exec sh {START_SCRIPT}"])
    container.start()
    bootstrap = f"{container.get_container_host_ip()}:{container.get_exposed_port(KAFKA_PORT)}"
    # One broker: its inter-broker (BROKER) address is only ever used from inside the container.
    advertised = f"PLAINTEXT://{bootstrap},BROKER://localhost:9093"
    script = f"export KAFKA_ADVERTISED_LISTENERS={advertised}\nexec /etc/kafka/docker/run\n"
    container.copy_into_container(script.encode(), START_SCRIPT, 0o755)
    return bootstrap


def _start_mongo(container: DockerContainer) -> str:
    container.with_command("--replSet rs0 --bind_ip_all").with_exposed_ports(27017)
    container.start()
    _initiate_replica_set(container)
    host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
    return f"mongodb://{host}:{port}/?directConnection=true&journal=true"


def _initiate_replica_set(container: DockerContainer) -> None:
    """Run rs.initiate() inside the container once mongod accepts connections (idempotent script)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if not _running(container):
            break
        result = container.exec(["mongosh", "--quiet", "--eval", _MONGO_INIT])
        last = result.output.decode(errors="replace").strip()
        if result.exit_code == 0 and last.endswith("1"):
            return
        time.sleep(0.5)
    raise InfraError(f"rs.initiate() failed in {MONGO_IMAGE}: {last}\n{_logs_tail(container)}")


@contextlib.contextmanager
def docker_infra() -> Iterator[Endpoints]:
    """Start Kafka and a single-node MongoDB replica set in containers; remove them on exit."""
    kafka, mongo = DockerContainer(KAFKA_IMAGE), DockerContainer(MONGO_IMAGE)
    try:
        bootstrap = _start_kafka(kafka)
        mongo_url = _start_mongo(mongo)
        for container, wait, address in ((kafka, wait_for_kafka, bootstrap), (mongo, wait_for_mongo, mongo_url)):
            try:
                wait(address, READY_TIMEOUT_S, functools.partial(_running, container))
            except NotReadyError as exc:
                raise InfraError(f"{container.image}: {exc}\n{_logs_tail(container)}") from exc
        yield Endpoints(kafka_bootstrap=bootstrap, mongo_url=mongo_url)
    finally:
        for container in (kafka, mongo):
            with contextlib.suppress(Exception):  # a container that never started has nothing to remove
                container.stop()
