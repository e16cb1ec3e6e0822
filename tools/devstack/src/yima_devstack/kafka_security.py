"""Who may do what on the platform's Kafka: principals, their SCRAM credentials and the ACLs
(docs/adr/0070-kafka-authentication-and-acls.md).

The plan is data: :func:`acl_plan` derives each service's rights from the AsyncAPI document (what it
publishes it may write, what it subscribes to it may read, ``dlq.<service>`` it may write, consumer groups
``yima-<service>…``), adds the few rights no subscription shows (routing creates the unit topics), one
principal per department that runs its own system (reads ``unit.<code>.cases``, writes
``unit.<code>.feedback``, groups ``dept-<code>`` and ``dept-<code>.…``) and a read-only operator.
:func:`apply` sends it to a broker as its super user: SCRAM credentials (AlterUserScramCredentials) and
ACLs (CreateAcls) — both are idempotent, so it runs at every start. aiokafka has neither request, so they
are defined here with
aiokafka's own protocol types.

``yima-dev kafka-acls`` prints the plan (for an operator setting up a production cluster).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)
from yima_contracts import topics
from yima_kit.kafka_auth import KafkaAuth

ADMIN = "yima-admin"  # super user: the platform's bootstrap and the tests
CONTROLLER = "controller"  # the controller listener's own (PLAIN, static): never a client's
OPERATOR = "yima-operator"  # read-only: every topic, no writes, no groups but its own
# The platform's services (insight and console are planned: DESIGN.md §1); every service of SERVICE_PORTS
# and of the AsyncAPI document gets a principal too.
SERVICES = ("intake", "routing", "risk", "mediation", "notify", "insight", "console")


def all_services(asyncapi: Mapping[str, Any] | None = None) -> list[str]:
    from .services import SERVICE_PORTS

    return sorted({*SERVICES, *SERVICE_PORTS, *(channel_rights(asyncapi) if asyncapi else {})})
SCRAM_ITERATIONS = 4096
SCRAM_SHA_512 = 2


def service_principal(service: str) -> str:
    return f"svc-{service}"


def department_principal(unit_code: str) -> str:
    topics.unit_topic(unit_code)  # validates the code
    return f"dept-{unit_code}"


# --------------------------------------------------------------------------------------------- the plan

# Kafka's enums (org.apache.kafka.common.resource / acl).
TOPIC, GROUP, CLUSTER = 2, 3, 4
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DESCRIBE = 3, 4, 5, 8
ALLOW = 3
_RESOURCES = {TOPIC: "topic", GROUP: "group", CLUSTER: "cluster"}
_PATTERNS = {LITERAL: "literal", PREFIXED: "prefixed"}
_OPERATIONS = {READ: "Read", WRITE: "Write", CREATE: "Create", DESCRIBE: "Describe"}


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # user name (the ACL's principal is User:<name>)
    resource_type: int
    name: str
    pattern: int
    operation: int

    def __str__(self) -> str:
        return (f"User:{self.principal} {_OPERATIONS[self.operation]} {_RESOURCES[self.resource_type]} "
                f"{self.name} ({_PATTERNS[self.pattern]})")

    def kafka_acls_args(self) -> str:
        """The same binding as arguments of Kafka's ``kafka-acls.sh --add``."""
        kind = {TOPIC: "--topic", GROUP: "--group", CLUSTER: "--cluster"}[self.resource_type]
        target = kind if self.resource_type == CLUSTER else f"{kind} '{self.name}'"
        pattern = " --resource-pattern-type prefixed" if self.pattern == PREFIXED else ""
        return f"--allow-principal 'User:{self.principal}' --operation {_OPERATIONS[self.operation]} {target}{pattern}"


def _topic_resource(address: str) -> tuple[str, int]:
    """A channel address as an ACL resource: a name, or for a pattern (``unit\\..+\\.cases``) or a
    template (``unit.{unit_code}.cases``) the literal prefix before the first variable part."""
    if "{" not in address and "\\" not in address and "*" not in address:
        return address, LITERAL
    head = re.split(r"\{|\\|\*|\.\+|\.\*", address, maxsplit=1)[0]
    if address[len(head):].startswith("\\."):
        head += "."
    if not head:
        raise ValueError(f"channel {address!r} has no literal prefix: no ACL can bind it")
    return head, PREFIXED


def channel_rights(asyncapi: Mapping[str, Any]) -> dict[str, dict[str, set[str]]]:
    """service -> {"send": addresses, "receive": addresses} from an AsyncAPI 3 document whose channel
    titles are ``<service>:<name>`` (as yima's generator writes them)."""
    rights: dict[str, dict[str, set[str]]] = {}
    channels = asyncapi.get("channels", {})
    for op in asyncapi.get("operations", {}).values():
        ref = unquote(op["channel"]["$ref"].rsplit("/", 1)[-1])
        service = ref.split(":", 1)[0]
        address = channels[ref]["address"]
        rights.setdefault(service, {"send": set(), "receive": set()})[op["action"]].add(address)
    return rights


# What no subscription or publisher declaration shows.
_EXTRA: dict[str, list[tuple[int, str, int, int]]] = {
    # routing creates unit.<code>.cases and unit.<code>.feedback before a unit's first work order (ADR 0021)
    "routing": [(TOPIC, "unit.", PREFIXED, CREATE), (TOPIC, "unit.", PREFIXED, DESCRIBE)],
    # insight (read side only) counts every event of a case's life
    "insight": [(TOPIC, p, PREFIXED, READ) for p in ("case.", "mediation.", "warning.", "notification.")],
}


ENV_LEGACY_FEEDBACK = "YIMA_KAFKA_LEGACY_FEEDBACK_UNITS"


def legacy_feedback_units(env: Mapping[str, str] | None = None) -> list[str]:
    """Departments still allowed to answer on the deprecated ``case.feedback`` (ADR 0071), comma-separated in
    ``YIMA_KAFKA_LEGACY_FEEDBACK_UNITS``; none by default."""
    value = (os.environ if env is None else env).get(ENV_LEGACY_FEEDBACK, "")
    return sorted({c.strip() for c in value.split(",") if c.strip()})


def acl_plan(
    asyncapi: Mapping[str, Any], departments: Iterable[str], legacy_feedback: Iterable[str] = (),
    courts: Iterable[str] | None = None,
) -> list[Acl]:
    """The ACLs of every principal; ``legacy_feedback``: departments that may still write ``case.feedback``
    during its deprecation period (ADR 0071); ``courts``: the courts whose own systems read the outcomes of the
    cases they referred (诉前委派, ``case.referral_outcome``; ADR 0066), by default the demo directory's."""
    acls: set[Acl] = set()
    for code in demo_courts() if courts is None else courts:
        who = department_principal(code)
        acls.add(Acl(who, TOPIC, topics.CASE_REFERRAL_OUTCOME, LITERAL, READ))
        acls.add(Acl(who, GROUP, who, LITERAL, READ))
        acls.add(Acl(who, GROUP, f"{who}.", PREFIXED, READ))
    rights = channel_rights(asyncapi)
    for service in all_services(asyncapi):
        who = service_principal(service)
        for action, operation in (("send", WRITE), ("receive", READ)):
            for address in rights.get(service, {}).get(action, ()):
                name, pattern = _topic_resource(address)
                acls.add(Acl(who, TOPIC, name, pattern, operation))
        acls.add(Acl(who, TOPIC, f"dlq.{service}", LITERAL, WRITE))
        acls.add(Acl(who, GROUP, f"yima-{service}", PREFIXED, READ))
        for resource_type, name, pattern, operation in _EXTRA.get(service, ()):
            acls.add(Acl(who, resource_type, name, pattern, operation))
    for code in departments:
        who = department_principal(code)
        acls.add(Acl(who, TOPIC, topics.unit_topic(code), LITERAL, READ))
        acls.add(Acl(who, TOPIC, topics.unit_feedback_topic(code), LITERAL, WRITE))
        # Its groups: dept-<code> or dept-<code>.<anything> (a bare prefix would also match dept-<code>G01…,
        # another unit's groups).
        acls.add(Acl(who, GROUP, who, LITERAL, READ))
        acls.add(Acl(who, GROUP, f"{who}.", PREFIXED, READ))
    for code in legacy_feedback:
        acls.add(Acl(department_principal(code), TOPIC, topics.CASE_FEEDBACK, LITERAL, WRITE))
    acls.add(Acl(OPERATOR, TOPIC, "*", LITERAL, READ))
    acls.add(Acl(OPERATOR, GROUP, OPERATOR, LITERAL, READ))
    acls.add(Acl(OPERATOR, GROUP, f"{OPERATOR}.", PREFIXED, READ))
    return sorted(acls)


def principals(departments: Iterable[str], asyncapi: Mapping[str, Any] | None = None,
               courts: Iterable[str] | None = None) -> list[str]:
    """Every SCRAM user of the platform but the super user (a court's system: see ``acl_plan``)."""
    services = all_services(asyncapi)
    units = dict.fromkeys([*departments, *(demo_courts() if courts is None else courts)])
    return [*(service_principal(s) for s in services), OPERATOR, *(department_principal(c) for c in units)]


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for root in (*here.parents, Path.cwd()):
        if (root / "contracts" / "asyncapi.yaml").is_file():
            return root
    raise FileNotFoundError("contracts/asyncapi.yaml not found above this package or the current directory")


def load_asyncapi(root: Path | None = None) -> dict[str, Any]:
    text = ((root or repo_root()) / "contracts" / "asyncapi.yaml").read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~20x faster on this 9,000-line file
    data: dict[str, Any] = yaml.load(text, Loader=loader)
    return data


def demo_departments(root: Path | None = None) -> list[str]:
    """Units of the demo directory that answer from their own systems (``in_platform`` false)."""
    path = (root or repo_root()) / "services/routing/src/yima_routing/data/jinshui_directory.json"
    units = json.loads(path.read_text("utf-8"))["units"]
    return sorted(u["code"] for u in units if not u.get("in_platform"))


def demo_courts(root: Path | None = None) -> list[str]:
    """Units of the demo directory docked to a court (诉调对接): the court's own system reads the outcomes of the
    cases it referred."""
    path = (root or repo_root()) / "services/routing/src/yima_routing/data/jinshui_directory.json"
    units = json.loads(path.read_text("utf-8"))["units"]
    return sorted(u["code"] for u in units if u.get("docking") == "court")


# -------------------------------------------------------------------------------------- credentials file


class Credentials:
    """Passwords of the local cluster's principals, generated once, kept in a 0600 JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def ensure(self, names: Iterable[str]) -> dict[str, str]:
        """The stored passwords, with a new random one for every name not stored yet."""
        current = self.load()
        wanted = {ADMIN, CONTROLLER, *names}
        missing = wanted - set(current)
        if missing or not self.exists():
            current |= {name: secrets.token_urlsafe(18) for name in missing}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(current, handle, indent=2, sort_keys=True)
                handle.write("\n")
        return current


# ------------------------------------------------------------------------------- wire: the two requests


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        ("upsertions", CompactArray(
            ("name", CompactString("utf-8")), ("mechanism", Int8), ("iterations", Int32),
            ("salt", CompactBytes), ("salted_password", CompactBytes), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, upsertions: list[tuple[Any, ...]]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]) -> Any:
        return request_struct_class([], self._upsertions, {})


class CreateAclsResponse_v2(Response):
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("error_code", Int16), ("error_message", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class CreateAclsResponse_v3(Response):
    API_KEY = 30
    API_VERSION = 3
    SCHEMA = CreateAclsResponse_v2.SCHEMA


class CreateAclsRequest_v2(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = CreateAclsResponse_v2
    SCHEMA = Schema(
        ("creations", CompactArray(
            ("resource_type", Int8), ("resource_name", CompactString("utf-8")), ("resource_pattern_type", Int8),
            ("principal", CompactString("utf-8")), ("host", CompactString("utf-8")), ("operation", Int8),
            ("permission_type", Int8), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class CreateAclsRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 3
    RESPONSE_TYPE = CreateAclsResponse_v3
    SCHEMA = CreateAclsRequest_v2.SCHEMA


class CreateAclsRequest(Request[CreateAclsRequest_v2 | CreateAclsRequest_v3]):
    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v2 | CreateAclsRequest_v3]) -> Any:
        return request_struct_class(self._creations, {})


def scram_upsertion(name: str, password: str) -> tuple[Any, ...]:
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    return (name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {})


def _raise_errors(what: str, errors: Iterable[tuple[int, str | None]]) -> None:
    messages = sorted({f"{for_code(code).__name__}: {message or ''}".strip() for code, message in errors if code})
    if messages:
        raise RuntimeError(f"{what} failed: " + "; ".join(messages))


async def apply(bootstrap: str, admin: KafkaAuth, passwords: Mapping[str, str], acls: Iterable[Acl]) -> None:
    """Give every principal in ``passwords`` its SCRAM-SHA-512 credential and create ``acls`` (as the super
    user ``admin``). Idempotent: an existing identical ACL is not an error."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin.client_kwargs())
    await client.start()
    try:
        users = [scram_upsertion(n, p) for n, p in sorted(passwords.items()) if n not in (ADMIN, CONTROLLER)]
        if users:
            response = await client._send_request(AlterUserScramCredentialsRequest(users))
            _raise_errors("setting SCRAM credentials", ((r[1], r[2]) for r in response.results))
        creations: list[tuple[Any, ...]] = [
            (a.resource_type, a.name, a.pattern, f"User:{a.principal}", "*", a.operation, ALLOW, {}) for a in acls
        ]
        if creations:
            response = await client._send_request(CreateAclsRequest(creations))
            _raise_errors("creating ACLs", ((r[0], r[1]) for r in response.results))
    finally:
        await client.close()
