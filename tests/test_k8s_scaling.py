"""deploy/k8s renders, and its scaling objects fit the consumers: the objects `kubectl kustomize deploy/k8s`
renders (kubectl when the machine has it; else the kustomization's files as listed), checked for

- a KEDA ScaledObject on consumer lag for every ``consume`` Deployment, on the service's own consumer group,
  and a HorizontalPodAutoscaler for every HTTP role, with serve + consume at their maximum inside the
  partition count (a replica beyond it only sits idle);
- a PodDisruptionBudget covering every Deployment that serves or consumes;
- resource requests (cpu, memory) and a memory limit on every container;
- outbox relays never autoscaled (one publishes at a time, under a lease).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from yima_kit.kafka_admin import DEFAULT_PARTITIONS

K8S_DIR = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def rendered() -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run(
            [kubectl, "kustomize", str(K8S_DIR)], check=True, capture_output=True, text=True, timeout=60
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    return [d for r in kustomization["resources"] for d in yaml.safe_load_all((K8S_DIR / r).read_text()) if d]


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o.get("kind") == kind}


def role(deployment: Obj) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["args"][0])


def service(deployment: Obj) -> str:
    return str(deployment["metadata"]["labels"]["app.kubernetes.io/name"])


def test_kustomize_renders_the_scaling_objects(rendered: list[Obj]) -> None:
    kinds = {o["kind"] for o in rendered}
    assert {"Deployment", "ScaledObject", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    if shutil.which("kubectl"):  # rendered by kustomize: every object lands in the platform's namespace
        assert all(o["metadata"].get("namespace") == "yima" for o in rendered if o["kind"] != "Namespace")


def test_every_consume_role_scales_on_its_own_consumer_lag(rendered: list[Obj]) -> None:
    deployments = of_kind(rendered, "Deployment")
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(rendered, "ScaledObject").values()}
    for name, d in deployments.items():
        if role(d) != "consume":
            assert name not in scaled, f"{name} ({role(d)}) must not scale on lag"
            continue
        assert name in scaled, f"Deployment {name} (consume) has no KEDA ScaledObject"
        so = scaled[name]
        triggers = so["spec"]["triggers"]
        assert triggers and all(t["type"] == "kafka" for t in triggers)
        groups = {t["metadata"]["consumerGroup"] for t in triggers}
        assert f"yima-{service(d)}" in groups, f"{name} scales on {groups}, not its service's group"
        for t in triggers:
            assert int(t["metadata"]["lagThreshold"]) > 0
            assert t["metadata"].get("bootstrapServersFromEnv") == "YIMA_KAFKA_BOOTSTRAP" or t["metadata"].get(
                "bootstrapServers"
            )
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]


def test_http_roles_have_an_hpa_and_every_group_fits_the_partitions(rendered: list[Obj]) -> None:
    deployments = of_kind(rendered, "Deployment")
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(rendered, "HorizontalPodAutoscaler").values()}
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(rendered, "ScaledObject").values()}
    most: dict[str, int] = {}
    for name, d in deployments.items():
        r = role(d)
        if r in ("serve", "api"):
            assert name in hpas, f"Deployment {name} ({r}) has no HorizontalPodAutoscaler"
            assert hpas[name]["spec"]["minReplicas"] >= 1
        if r == "relay-outbox":
            assert name not in hpas and name not in scaled, f"{name}: an outbox relay is never autoscaled"
        if r in ("serve", "consume"):  # both join the service's consumer group
            top = (
                hpas[name]["spec"]["maxReplicas"] if name in hpas
                else scaled[name]["spec"]["maxReplicaCount"] if name in scaled
                else d["spec"].get("replicas", 1)
            )
            most[service(d)] = most.get(service(d), 0) + top
    assert most
    for svc, n in most.items():
        assert n <= DEFAULT_PARTITIONS, f"{svc}: up to {n} consumers in one group, over {DEFAULT_PARTITIONS} partitions"


def test_every_serving_or_consuming_deployment_has_a_disruption_budget(rendered: list[Obj]) -> None:
    pdbs = list(of_kind(rendered, "PodDisruptionBudget").values())
    for name, d in of_kind(rendered, "Deployment").items():
        if role(d) == "relay-outbox":
            continue
        labels = d["spec"]["template"]["metadata"]["labels"]
        covering = [
            p for p in pdbs
            if all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
        ]
        assert covering, f"Deployment {name} has no PodDisruptionBudget"
        assert all("maxUnavailable" in p["spec"] or "minAvailable" in p["spec"] for p in covering)


def test_every_container_has_requests_and_a_memory_limit(rendered: list[Obj]) -> None:
    for name, d in of_kind(rendered, "Deployment").items():
        for c in d["spec"]["template"]["spec"]["containers"]:
            res = c.get("resources", {})
            assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{name}/{c['name']}: cpu and memory requests"
            assert "memory" in res.get("limits", {}), f"{name}/{c['name']}: a memory limit"
