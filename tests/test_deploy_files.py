"""The deployment files agree with the code: Dockerfile, docker-compose.yml and deploy/k8s/.

Static checks only, no Docker, Kubernetes, Kafka or MongoDB: every service named in them is a real
service package, every ``YIMA_*`` variable is one its settings class really reads, every port is the one
the service listens on, every health check asks a route the app has, every role is a CLI command, and
the compose start-up order waits for what each service needs.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import shlex
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, AliasPath
from starlette.routing import Match
from typer.main import get_command_name
from yima_contracts.topics import PLATFORM_TOPICS
from yima_devstack.services import PEER_URLS, SERVICE_PORTS
from yima_kit.kafka_admin import DEFAULT_PARTITIONS

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"

SERVICES = sorted(SERVICE_PORTS)
KAFKA, MONGO = "kafka", "mongo"  # compose service names of the infrastructure
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Variables a service container may carry besides its own settings (none of ours read anything else).
OTHER_ALLOWED_ENV = {"TZ", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONOPTIMIZE"}

Built = dict[str, tuple[str, dict[str, Any]]]  # compose service name -> (SERVICE build arg, its spec)
Docs = list[tuple[str, dict[str, Any]]]  # (file under deploy/k8s, one Kubernetes object)


# --------------------------------------------------------------------------------------------------
# What the code says


def settings_class(service: str) -> type[Any]:
    module = importlib.import_module(f"yima_{service}.config")
    name = f"{service.capitalize()}Settings"
    cls = getattr(module, name, None)
    assert cls is not None, f"yima_{service}.config has no {name}: the settings class convention changed"
    return cls


@functools.cache
def env_names(service: str) -> frozenset[str]:
    """The environment variables the service's settings class reads, upper-cased (matching is
    case-insensitive): a field's validation_alias choices if it has any, else env_prefix + FIELD_NAME."""
    cls = settings_class(service)
    prefix = cls.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add((prefix + field_name).upper())
            continue
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        for choice in choices:
            if isinstance(choice, AliasPath):  # the environment source reads the path's first element
                choice = choice.path[0]
            if isinstance(choice, str):
                names.add(choice.upper())
    return frozenset(names)


def port_var(service: str) -> str:
    return f"YIMA_{service.upper()}_HTTP_PORT"


def default_port(service: str) -> int:
    return int(settings_class(service).model_fields["http_port"].default)


@functools.cache
def cli_roles(service: str) -> frozenset[str]:
    cli = importlib.import_module(f"yima_{service}.cli")
    return frozenset(c.name or get_command_name(c.callback.__name__) for c in cli.app.registered_commands)


@functools.cache
def app_of(service: str) -> Any:
    """The service's FastAPI app; create_app() connects to nothing until its lifespan starts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"yima_{service}.app").create_app()


def has_get_route(service: str, path: str) -> bool:
    # Ask every route (included routers too) whether it fully matches GET <path>: Starlette's own matching,
    # so it works whatever FastAPI keeps in app.routes.
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "path_params": {},
        "query_string": b"",
        "headers": [],
    }
    return any(route.matches(scope)[0] == Match.FULL for route in app_of(service).routes)


def known_paths(service: str) -> list[str]:
    return sorted([*app_of(service).openapi()["paths"], "/metrics"])


def is_service_package(name: str) -> bool:
    try:
        importlib.import_module(f"yima_{name}.cli")
    except ImportError:
        return False
    return True


URL_PATH = re.compile(r"https?://[^/\s'\"]+?(?::(\d+))?(/[^\s'\"?]*)")


def urls_in(text: str) -> list[tuple[int | None, str]]:
    """(port, path) of every http URL in a health check command."""
    return [(int(p) if p else None, path) for p, path in URL_PATH.findall(text)]


def option_value(tokens: list[str], option: str) -> str | None:
    for i, tok in enumerate(tokens):
        if tok == option and i + 1 < len(tokens):
            return tokens[i + 1]
        if tok.startswith(option + "="):
            return tok.split("=", 1)[1]
    return None


def listen_port(service: str, env: dict[str, str], tokens: list[str]) -> int:
    """Where the service listens: the CLI's --port, else YIMA_<NAME>_HTTP_PORT, else the settings default."""
    given = option_value(tokens, "--port") or {k.upper(): v for k, v in env.items()}.get(port_var(service))
    return int(given) if given is not None else default_port(service)


# --------------------------------------------------------------------------------------------------
# What the files say


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), f"{COMPOSE_FILE}: no services"
    return data["services"]


def compose_builds_dockerfile(spec: dict[str, Any]) -> bool:
    build = spec.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        build = {"context": build}
    context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
    return (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE.resolve()


def build_arg(spec: dict[str, Any], name: str) -> str | None:
    args = spec["build"].get("args") or {}
    if isinstance(args, list):
        args = dict(a.split("=", 1) for a in args)
    value = args.get(name)
    return None if value is None else str(value)


@pytest.fixture(scope="module")
def compose_builds(compose: dict[str, Any]) -> Built:
    """compose service name -> (SERVICE build arg, spec), for everything built from the Dockerfile."""
    return {
        name: (build_arg(spec, "SERVICE") or "", spec)
        for name, spec in compose.items()
        if compose_builds_dockerfile(spec)
    }


@pytest.fixture(scope="module")
def compose_services(compose_builds: Built) -> Built:
    """The ones that run the service (the image's entrypoint); a job that replaces it (topic-init) is not."""
    return {name: built for name, built in compose_builds.items() if "entrypoint" not in built[1]}


def compose_env(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def compose_tokens(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def healthcheck_text(spec: dict[str, Any]) -> str:
    test = (spec.get("healthcheck") or {}).get("test")
    return test if isinstance(test, str) else " ".join(str(t) for t in test or [])


@pytest.fixture(scope="module")
def k8s_docs() -> Docs:
    """(file name, object) for every object of every file the kustomization lists."""
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization.get("resources", []):
        path = K8S_DIR / resource
        assert path.is_file(), f"deploy/k8s/kustomization.yaml lists {resource}, which does not exist"
        docs += [(resource, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def deployments(docs: Docs) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(file, Deployment, yima service) for every Deployment; the service is its app.kubernetes.io/name."""
    for file, doc in docs:
        if doc.get("kind") == "Deployment":
            yield file, doc, doc["metadata"].get("labels", {}).get("app.kubernetes.io/name", "")


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


def k8s_env(container: dict[str, Any], docs: Docs) -> dict[str, str]:
    """Every variable the container gets: from envFrom (ConfigMaps and Secrets in these files) and env."""
    sources = {(d["kind"], d["metadata"]["name"]): d for _, d in docs if d.get("kind") in ("ConfigMap", "Secret")}
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in src:
                ref = sources.get((kind, src[key]["name"]))
                assert ref is not None, f"deploy/k8s: envFrom names {kind} {src[key]['name']!r}, not defined here"
                env.update({k: str(v) for k, v in {**ref.get("data", {}), **ref.get("stringData", {})}.items()})
    env.update({e["name"]: str(e.get("value", "")) for e in container.get("env", [])})
    return env


def k8s_role(container: dict[str, Any]) -> tuple[str, list[str]]:
    """The CLI role the container runs, and the tokens after it. The image's entrypoint is
    ``python -m yima_<name>`` and its default command ``serve``; a command may also spell it out."""
    command, args = list(container.get("command", [])), list(container.get("args", []))
    tokens = command + args
    for i, tok in enumerate(tokens):
        if re.fullmatch(r"yima[_-]\w+", tok) and i + 1 < len(tokens):
            return tokens[i + 1], tokens[i + 2 :]
    if command:
        return "", tokens  # a command that runs something else: no role found
    return (args[0], args[1:]) if args else ("serve", [])


def named_port(container: dict[str, Any], port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == port), None)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def exec_form(args: str) -> list[str]:
    # A CMD/ENTRYPOINT in exec form is JSON; in shell form it is one string run by /bin/sh -c.
    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


# --------------------------------------------------------------------------------------------------
# (a) services named in the files are the real service packages


def test_devstack_ports_match_the_settings() -> None:
    for service in SERVICES:
        assert default_port(service) == SERVICE_PORTS[service], (
            f"yima_devstack.services.SERVICE_PORTS[{service!r}] is {SERVICE_PORTS[service]}, but "
            f"{settings_class(service).__name__}.http_port defaults to {default_port(service)}"
        )


def test_every_service_has_a_compose_service(compose_services: Built) -> None:
    built = {svc for svc, _ in compose_services.values()}
    missing = sorted(set(SERVICES) - built)
    assert not missing, f"docker-compose.yml: no service built from the Dockerfile with SERVICE={missing}"


def test_compose_builds_only_real_services(compose_builds: Built) -> None:
    for name, (service, _) in compose_builds.items():
        assert service, f"docker-compose.yml: service {name!r} builds the Dockerfile without build arg SERVICE"
        assert is_service_package(service), (
            f"docker-compose.yml: service {name!r} builds SERVICE={service!r}, but yima_{service}.cli does not import"
        )


def test_every_service_has_k8s_serve_deployment_and_service(k8s_docs: Docs) -> None:
    for file, deployment, service in deployments(k8s_docs):
        assert is_service_package(service), (
            f"deploy/k8s/{file}: Deployment {deployment['metadata']['name']!r} is labelled "
            f"app.kubernetes.io/name={service!r}, which is not a service package (yima_{service}.cli)"
        )
        for container in containers(deployment):
            repo = container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]
            assert repo == service, (
                f"deploy/k8s/{file}: Deployment {deployment['metadata']['name']!r} of {service} runs image "
                f"{container['image']!r}, another service's"
            )
    serve = {svc for _, d, svc in deployments(k8s_docs) if k8s_role(containers(d)[0])[0] == "serve"}
    k8s_services = {
        d["spec"]["selector"].get("app.kubernetes.io/name") for _, d in k8s_docs if d.get("kind") == "Service"
    }
    for service in SERVICES:
        assert service in serve, f"deploy/k8s: no Deployment runs {service} serve"
        assert service in k8s_services, f"deploy/k8s: no Service selects the {service} pods"


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text()).get("resources", []))
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert not on_disk - listed, f"deploy/k8s/kustomization.yaml does not list {sorted(on_disk - listed)}"


# --------------------------------------------------------------------------------------------------
# (b) every YIMA_* variable is a setting the service reads


def check_env(where: str, service: str, env: dict[str, str], *, runs_service: bool = True) -> None:
    known = env_names(service)
    for name in env:
        if name.upper().startswith("YIMA_"):
            assert name.upper() in known, (
                f"{where}: {name} is not a setting of {service} ({settings_class(service).__name__} reads "
                f"{', '.join(sorted(known))})"
            )
        else:
            assert name in OTHER_ALLOWED_ENV, (
                f"{where}: {name} is neither a YIMA_ setting nor one of {sorted(OTHER_ALLOWED_ENV)}: a typo?"
            )
    if not runs_service:
        return
    for required in ("YIMA_KAFKA_BOOTSTRAP", "YIMA_MONGO_URL", "YIMA_SM4_KEY_HEX"):
        assert required in env, f"{where}: {required} is not set (the default only fits a local run)"


def test_compose_env_vars_are_real_settings(compose_builds: Built) -> None:
    for name, (service, spec) in compose_builds.items():
        runs_service = "entrypoint" not in spec  # a job in the image (topic-init) needs only what it uses
        check_env(f"docker-compose.yml service {name!r}", service, compose_env(spec), runs_service=runs_service)


def test_k8s_env_vars_are_real_settings(k8s_docs: Docs) -> None:
    for file, deployment, service in deployments(k8s_docs):
        for container in containers(deployment):
            where = f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r}"
            check_env(where, service, k8s_env(container, k8s_docs))


def test_services_find_their_peers_in_compose_and_k8s(compose_builds: Built, k8s_docs: Docs) -> None:
    """Every URL by which one service calls another (what devstack sets from its ports: PEER_URLS) is set in
    the deployments too, to the callee's service name there; left to its default (127.0.0.1) a console would
    fail to sign staff in, or a tracking page show no messages, in a container."""
    for var, callee in PEER_URLS:
        caller = var.split("_")[1].lower()
        port = SERVICE_PORTS[callee]
        in_compose = [compose_env(spec).get(var, "") for service, spec in compose_builds.values() if service == caller]
        assert in_compose and all(v.startswith(("http", "${")) for v in in_compose), (
            f"docker-compose.yml: {caller} lacks {var}")
        set_in_k8s = [k8s_env(c, k8s_docs).get(var) for _, d, service in deployments(k8s_docs) if service == caller
                      for c in containers(d)]
        assert any(set_in_k8s), f"deploy/k8s/{caller}.yaml: no Deployment sets {var}"
        if not var.endswith("_PUBLIC_URL"):  # a public address is the deployment's own; the rest are Services
            assert all(v == f"http://{callee}:{port}" for v in in_compose), (var, in_compose)
            assert all(v in (None, f"http://{callee}:{port}") for v in set_in_k8s), (var, set_in_k8s)


def test_k8s_configmap_and_secret_keys_are_real_settings(k8s_docs: Docs) -> None:
    every = set().union(*(env_names(s) for s in SERVICES))
    for file, doc in k8s_docs:
        if doc.get("kind") in ("ConfigMap", "Secret"):
            for key in {**doc.get("data", {}), **doc.get("stringData", {})}:
                if key.upper().startswith("YIMA_"):
                    assert key.upper() in every, (
                        f"deploy/k8s/{file}: {doc['kind']} {doc['metadata']['name']!r} has {key}, "
                        "which no service's settings read"
                    )


# --------------------------------------------------------------------------------------------------
# (c) ports are the ones the services listen on


def test_compose_ports(compose_services: Built) -> None:
    for name, (service, spec) in compose_services.items():
        port = listen_port(service, compose_env(spec), compose_tokens(spec.get("command")))
        assert spec.get("ports"), f"docker-compose.yml service {name!r} publishes no port"
        for entry in spec["ports"]:
            if isinstance(entry, dict):
                host_ip, target = entry.get("host_ip"), int(entry["target"])
            else:
                parts = str(entry).split("/")[0].split(":")
                host_ip = parts[0] if len(parts) == 3 else None
                target = int(parts[-1])
            assert target == port, (
                f"docker-compose.yml service {name!r} publishes container port {target}, but {service} "
                f"listens on {port} ({port_var(service)} or the settings default)"
            )
            assert host_ip == "127.0.0.1", (
                f"docker-compose.yml service {name!r}: port {entry} must be published on 127.0.0.1 only"
            )
        for url_port, _ in urls_in(healthcheck_text(spec)):
            assert url_port == port, (
                f"docker-compose.yml service {name!r}: healthcheck asks port {url_port}, {service} listens on {port}"
            )


def test_k8s_ports(k8s_docs: Docs) -> None:
    pods: dict[str, dict[str, Any]] = {}
    for file, deployment, service in deployments(k8s_docs):
        where = f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r}"
        for container in containers(deployment):
            port = listen_port(service, k8s_env(container, k8s_docs), k8s_role(container)[1])
            declared = [p["containerPort"] for p in container.get("ports", [])]
            assert declared == [port], f"{where}: containerPort {declared}, but {service} listens on {port}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if get := container.get(probe, {}).get("httpGet"):
                    assert named_port(container, get["port"]) == port, (
                        f"{where}: {probe} asks port {get['port']!r}, {service} listens on {port}"
                    )
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            pods[deployment["metadata"]["name"]] = {"labels": labels, "container": container}
    for file, doc in k8s_docs:
        if doc.get("kind") != "Service":
            continue
        selector = doc["spec"]["selector"]
        selected = [p for p in pods.values() if selector.items() <= p["labels"].items()]
        assert selected, f"deploy/k8s/{file}: Service {doc['metadata']['name']!r} selects no Deployment's pods"
        for p in selected:
            for sp in doc["spec"]["ports"]:
                target = sp.get("targetPort", sp["port"])
                assert named_port(p["container"], target) is not None, (
                    f"deploy/k8s/{file}: Service {doc['metadata']['name']!r} targets port {target!r}, "
                    f"which its pods don't declare"
                )


def test_dockerfile_exposes_every_service_port() -> None:
    exposed = {int(p.split("/")[0]) for k, v in final_stage() if k == "EXPOSE" for p in v.split()}
    for service in SERVICES:
        assert default_port(service) in exposed, f"Dockerfile: EXPOSE lacks {service}'s port {default_port(service)}"


# --------------------------------------------------------------------------------------------------
# (d) health checks ask routes the apps have


def test_compose_healthchecks_ask_real_routes(compose_services: Built) -> None:
    for name, (service, spec) in compose_services.items():
        text = healthcheck_text(spec)
        assert urls_in(text), f"docker-compose.yml service {name!r}: no healthcheck asking an http URL"
        for _, path in urls_in(text):
            assert has_get_route(service, path), (
                f"docker-compose.yml service {name!r}: healthcheck asks {path}, which {service} does not serve "
                f"(it has {known_paths(service)})"
            )


def test_k8s_probes_ask_real_routes(k8s_docs: Docs) -> None:
    for file, deployment, service in deployments(k8s_docs):
        where = f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r}"
        for container in containers(deployment):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{where}: no {probe}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if get := container.get(probe, {}).get("httpGet"):
                    assert has_get_route(service, get["path"]), (
                        f"{where}: {probe} asks {get['path']}, which {service} does not serve "
                        f"(it has {known_paths(service)})"
                    )


def test_dockerfile_healthcheck_asks_a_real_route() -> None:
    checks = [v for k, v in final_stage() if k == "HEALTHCHECK"]
    assert checks, "Dockerfile: the runtime stage has no HEALTHCHECK"
    paths = [path for _, path in urls_in(checks[-1])]
    assert paths, f"Dockerfile: HEALTHCHECK asks no http URL: {checks[-1]}"
    for service in SERVICES:
        for path in paths:
            assert has_get_route(service, path), f"Dockerfile: HEALTHCHECK asks {path}, which {service} does not serve"


# --------------------------------------------------------------------------------------------------
# (e) compose start-up order


def test_compose_depends_on_has_conditions(compose: dict[str, Any]) -> None:
    for name, spec in compose.items():
        depends = spec.get("depends_on") or {}
        assert isinstance(depends, dict), (
            f"docker-compose.yml service {name!r}: depends_on is a list; give each dependency a condition"
        )
        for target, how in depends.items():
            assert target in compose, f"docker-compose.yml service {name!r} depends on {target!r}, not defined"
            condition = (how or {}).get("condition")
            assert condition in CONDITIONS, (
                f"docker-compose.yml service {name!r} depends on {target!r} with condition {condition!r}; "
                f"use one of {sorted(CONDITIONS)}"
            )
            if condition == "service_healthy":
                assert compose[target].get("healthcheck"), (
                    f"docker-compose.yml service {name!r} waits for {target!r} to be healthy, "
                    f"but {target!r} has no healthcheck"
                )


def creates_topics(spec: dict[str, Any]) -> bool:
    script = " ".join(compose_tokens(spec.get("command")))
    return "kafka-topics.sh" in script or "ensure_topics" in script


@pytest.fixture(scope="module")
def topic_init(compose: dict[str, Any]) -> str:
    jobs = [n for n, s in compose.items() if creates_topics(s)]
    assert len(jobs) == 1, f"docker-compose.yml: expected one topic-init service creating the topics, got {jobs}"
    return jobs[0]


def test_services_wait_for_infrastructure(compose: dict[str, Any], compose_services: Built, topic_init: str) -> None:
    for infra in (KAFKA, MONGO):
        assert infra in compose, f"docker-compose.yml: no {infra!r} service"
    for name in compose_services:
        depends = compose[name].get("depends_on") or {}
        for target, condition in (
            (KAFKA, "service_healthy"),
            (MONGO, "service_healthy"),
            (topic_init, "service_completed_successfully"),
        ):
            got = (depends.get(target) or {}).get("condition") if isinstance(depends, dict) else None
            assert got == condition, (
                f"docker-compose.yml service {name!r} must depend on {target!r} with condition {condition} "
                f"(has {got!r})"
            )


def test_topic_init_creates_every_platform_topic(compose: dict[str, Any], topic_init: str) -> None:
    spec = compose[topic_init]
    script = " ".join(compose_tokens(spec.get("command")))
    if "kafka-topics.sh" in script:  # the topics listed by name in a shell loop
        words = set(re.split(r"[\s\"';\\]+", script))
        missing = [t for t in PLATFORM_TOPICS if t not in words]
        assert not missing, f"docker-compose.yml service {topic_init!r} does not create {missing}"
        assert "--if-not-exists" in script, f"docker-compose.yml service {topic_init!r}: use --if-not-exists"
        partitions = option_value(script.split(), "--partitions")
    else:  # the code's own list, in a service image
        assert compose_builds_dockerfile(spec) and "PLATFORM_TOPICS" in script, (
            f"docker-compose.yml service {topic_init!r} must create yima_contracts.topics.PLATFORM_TOPICS"
        )
        found = re.search(r"partitions\s*=\s*(\d+)", script)
        partitions = found.group(1) if found else None
    assert partitions == str(DEFAULT_PARTITIONS), (
        f"docker-compose.yml service {topic_init!r}: topics need {DEFAULT_PARTITIONS} partitions, not {partitions}"
    )
    assert (compose[topic_init].get("depends_on") or {}).get(KAFKA, {}).get("condition") == "service_healthy", (
        f"docker-compose.yml service {topic_init!r} must wait for {KAFKA!r} to be healthy"
    )


def test_compose_addresses_reach_the_infrastructure(
    compose: dict[str, Any],
    compose_builds: Built,
    compose_services: Built,
) -> None:
    kafka_env = compose_env(compose[KAFKA])
    advertised = {a.split("://", 1)[-1] for a in kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "").split(",")}
    assert kafka_env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", (
        "docker-compose.yml: kafka must have KAFKA_AUTO_CREATE_TOPICS_ENABLE=false (topics come from topic-init)"
    )
    for name, (_, spec) in compose_builds.items():
        for address in compose_env(spec).get("YIMA_KAFKA_BOOTSTRAP", "").split(","):
            assert address in advertised, (
                f"docker-compose.yml service {name!r}: YIMA_KAFKA_BOOTSTRAP={address} is not a listener kafka "
                f"advertises ({sorted(advertised)})"
            )
    repl_set = option_value(compose_tokens(compose[MONGO].get("command")), "--replSet")
    for name, (_, spec) in compose_services.items():
        url = compose_env(spec).get("YIMA_MONGO_URL", "")
        assert f"replicaSet={repl_set}" in url, (
            f"docker-compose.yml service {name!r}: YIMA_MONGO_URL must name replicaSet={repl_set} (mongo --replSet)"
        )
        assert f"//{MONGO}:" in url, f"docker-compose.yml service {name!r}: YIMA_MONGO_URL must point at {MONGO!r}"


# --------------------------------------------------------------------------------------------------
# (f) the Dockerfile builds and runs the service named by SERVICE


def test_dockerfile_takes_the_service_as_build_arg() -> None:
    stage = final_stage()
    assert ("ARG", "SERVICE") in stage, "Dockerfile: the runtime stage must declare ARG SERVICE"
    envs = " ".join(v for k, v in stage if k == "ENV")
    assert re.search(r"\bSERVICE=\$\{?SERVICE\}?", envs), (
        "Dockerfile: the runtime stage must set ENV SERVICE=${SERVICE} (the entrypoint reads it)"
    )
    run = " ".join(" ".join(exec_form(v)) for k, v in stage if k in ("ENTRYPOINT", "CMD"))
    assert re.search(r"-m\s+\"?yima_\$\{?SERVICE\}?", run), (
        f"Dockerfile: ENTRYPOINT/CMD must run `python -m yima_${{SERVICE}}`, runs: {run}"
    )
    cmd = [exec_form(v) for k, v in stage if k == "CMD"]
    assert cmd and cmd[-1][0] == "serve" and "0.0.0.0" in cmd[-1], (
        f"Dockerfile: the default CMD must be `serve --host 0.0.0.0`, is {cmd[-1] if cmd else None}"
    )
    users = [v for k, v in stage if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "Dockerfile: the runtime stage must run as non-root"
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), (
        f"Dockerfile: USER {users[-1]} must be numeric, or Kubernetes can't verify runAsNonRoot"
    )


def test_dockerfile_copies_every_workspace_member_manifest() -> None:
    # `uv sync --locked` checks the lock against the whole workspace: every member's pyproject.toml is needed.
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = {
        str(p.parent.relative_to(ROOT))
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for p in ROOT.glob(f"{pattern}/pyproject.toml")
    }
    copied = " ".join(v for k, v in dockerfile_instructions() if k == "COPY")
    missing = sorted(m for m in members if f"{m}/pyproject.toml" not in copied)
    assert not missing, f"Dockerfile: the dependency layer does not COPY the pyproject.toml of {missing}"


# --------------------------------------------------------------------------------------------------
# (g) roles are CLI commands; scaling stays within the partitions


def test_k8s_roles_are_cli_commands(k8s_docs: Docs) -> None:
    for file, deployment, service in deployments(k8s_docs):
        for container in containers(deployment):
            role = k8s_role(container)[0]
            assert role in cli_roles(service), (
                f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r} runs role {role!r}; "
                f"yima_{service} has {sorted(cli_roles(service))}"
            )


def test_compose_roles_are_cli_commands(compose_services: Built) -> None:
    for name, (service, spec) in compose_services.items():
        tokens = compose_tokens(spec.get("command")) or ["serve"]
        assert tokens[0] in cli_roles(service), (
            f"docker-compose.yml service {name!r} runs role {tokens[0]!r}; "
            f"yima_{service} has {sorted(cli_roles(service))}"
        )


def test_k8s_replicas_fit_the_partitions(k8s_docs: Docs) -> None:
    consumers: dict[str, int] = {}
    for file, deployment, service in deployments(k8s_docs):
        role = k8s_role(containers(deployment)[0])[0]
        replicas = deployment["spec"].get("replicas", 1)
        if role == "relay-outbox":
            assert replicas == 1, (
                f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r}: relay-outbox needs 1 replica "
                "(one relay publishes at a time)"
            )
        else:  # serve runs the consumers too
            consumers[service] = consumers.get(service, 0) + replicas
    for service, n in consumers.items():
        assert n <= DEFAULT_PARTITIONS, (
            f"deploy/k8s: {service} has {n} consumer replicas (serve + consume) in one group, more than the "
            f"{DEFAULT_PARTITIONS} partitions: the extra ones would sit idle"
        )


def test_k8s_pods_run_as_non_root(k8s_docs: Docs) -> None:
    for file, deployment, _ in deployments(k8s_docs):
        pod = deployment["spec"]["template"]["spec"]
        for container in containers(deployment):
            non_root = container.get("securityContext", {}).get(
                "runAsNonRoot", pod.get("securityContext", {}).get("runAsNonRoot")
            )
            assert non_root is True, (
                f"deploy/k8s/{file} Deployment {deployment['metadata']['name']!r}: set runAsNonRoot: true"
            )
