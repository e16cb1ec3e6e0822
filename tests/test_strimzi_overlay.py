"""The optional Strimzi overlay (deploy/overlays/strimzi, docs/adr/0096): it renders, declares every topic and
every principal with exactly the local stack's ACLs, and is what the generator writes (no cluster needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from yima_contracts import topics
from yima_devstack import kafka_security as ks
from yima_devstack import strimzi
from yima_kit.kafka_admin import DEFAULT_PARTITIONS
from yima_routing.config import RoutingSettings

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / strimzi.OVERLAY_DIR


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    # No kubectl: the overlay's own objects, read from its files (the patches are then not applied).
    return [d for name in ("topics.yaml", "users.yaml") for d in yaml.safe_load_all((OVERLAY / name).read_text()) if d]


@pytest.fixture(scope="module")
def plan() -> tuple[list[str], list[ks.Acl], list[str]]:
    departments = ks.demo_departments(ROOT)
    asyncapi = ks.load_asyncapi(ROOT)
    courts = ks.demo_courts(ROOT)
    return departments, ks.acl_plan(asyncapi, departments, (), courts), ks.principals(departments, asyncapi, courts)


def _kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_every_platform_and_demo_unit_topic_is_declared(rendered, plan) -> None:
    declared = {d["spec"]["topicName"]: d for d in _kind(rendered, "KafkaTopic")}
    for name in topics.PLATFORM_TOPICS:
        spec = declared[name]["spec"]
        assert (spec["partitions"], spec["replicas"]) == (DEFAULT_PARTITIONS, 3), name
        assert spec["config"]["min.insync.replicas"] == 2
        assert declared[name]["metadata"]["labels"]["strimzi.io/cluster"] == strimzi.CLUSTER
    unit_partitions = RoutingSettings.model_fields["unit_topic_partitions"].default
    departments = plan[0]
    assert departments, "the demo directory has departments with their own systems"
    for code in departments:
        for name in (topics.unit_topic(code), topics.unit_feedback_topic(code)):
            assert (declared[name]["spec"]["partitions"], declared[name]["spec"]["replicas"]) == (unit_partitions, 3)
    assert len(declared) == len(topics.PLATFORM_TOPICS) + 2 * len(departments)


def test_every_principal_has_a_user_with_exactly_the_plans_acls(rendered, plan) -> None:
    _, acls, principals = plan
    users = {d["metadata"]["annotations"][strimzi.PRINCIPAL_ANNOTATION]: d for d in _kind(rendered, "KafkaUser")}
    assert set(users) == set(principals)
    for principal in principals:
        user = users[principal]
        assert user["metadata"]["name"] == principal.lower()
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        assert strimzi.acls_of_user(user) == {a for a in acls if a.principal == principal}, principal
    assert ks.OPERATOR in users and any(p.startswith("dept-") for p in users)


def _writable(user: dict[str, Any], topic: str) -> bool:
    for entry in user["spec"]["authorization"]["acls"]:
        res = entry["resource"]
        if res["type"] != "topic" or "Write" not in entry["operations"]:
            continue
        prefix = res["patternType"] == "prefix" and topic.startswith(res["name"])
        if res["name"] == "*" or res["name"] == topic or prefix:
            return True
    return False


def test_no_department_writes_another_units_feedback_or_a_platform_topic(rendered, plan) -> None:
    departments = plan[0]
    users = {d["metadata"]["annotations"][strimzi.PRINCIPAL_ANNOTATION]: d for d in _kind(rendered, "KafkaUser")}
    for code in departments:
        user = users[ks.department_principal(code)]
        assert _writable(user, topics.unit_feedback_topic(code))  # its own answers: yes
        assert not _writable(user, topics.unit_topic(code))
        for other in departments:
            if other != code:
                assert not _writable(user, topics.unit_feedback_topic(other)), (code, other)
        for name in topics.PLATFORM_TOPICS:
            assert not _writable(user, name), (code, name)
    operator = users[ks.OPERATOR]
    assert not any(_writable(operator, t) for t in topics.PLATFORM_TOPICS)


def _uses_placeholder_secret(container: dict[str, Any]) -> bool:
    return any(e.get("secretRef", {}).get("name", "").startswith("yima-kafka-") for e in container.get("envFrom", []))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the patches are applied by kubectl kustomize")
def test_services_read_their_password_from_their_kafka_users_secret(rendered) -> None:
    users = {d["metadata"]["name"] for d in _kind(rendered, "KafkaUser")}
    assert not [d for d in _kind(rendered, "Secret") if d["metadata"]["name"].startswith("yima-kafka-")]
    patched = 0
    for dep in _kind(rendered, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert not _uses_placeholder_secret(c)
            env = {e["name"]: e for e in c.get("env", [])}
            if "YIMA_KAFKA_SASL_PASSWORD" not in env:
                continue
            ref = env["YIMA_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref["key"] == "password" and ref["name"] in users
            assert env["YIMA_KAFKA_SASL_USERNAME"]["value"] == ref["name"] == f"svc-{c['name']}"
            patched += 1
    base = [d for p in sorted((ROOT / "deploy/k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    expected = sum(1 for d in _kind(base, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]
                   if _uses_placeholder_secret(c))
    assert expected and patched == expected


def test_committed_overlay_is_what_the_generator_writes() -> None:
    assert strimzi.drifted(ROOT) == [], "run `uv run yima-dev strimzi-overlay`"


def test_generator_refuses_names_kubernetes_cannot_hold() -> None:
    with pytest.raises(ValueError, match="Kubernetes object name"):
        strimzi.k8s_name("unit..cases")
    with pytest.raises(ValueError, match="both be the object"):
        strimzi.topic_objects(["ab", "AB"])
