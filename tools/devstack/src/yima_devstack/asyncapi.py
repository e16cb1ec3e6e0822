"""The AsyncAPI document, generated from the services themselves: each service's app factory registers
its subscribers and declares what it publishes; FastStream turns the brokers into one document.

    uv run yima-dev asyncapi           # write contracts/asyncapi.yaml
    uv run yima-dev asyncapi --check   # exit 1 if the committed file drifted
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from faststream.specification import AsyncAPI
from yima_contracts.staff_events import StaffSessionRevoked
from yima_kit.revocation_feed import SPEC_NAME

from .services import SERVICE_PORTS

ASYNCAPI_FILE = Path(__file__).resolve().parents[4] / "contracts" / "asyncapi.yaml"
DESCRIPTION = """\
yima 一码解纠纷: the events of a dispute's life. Partition key = case_id on every topic, so the events of
one case are ordered. Every message carries the envelope (event_id, event_type with version, case_id,
occurred_at, correlation_id, actor). Every client authenticates (SASL/SCRAM-SHA-512) and is authorised by
ACL: a service writes only its own topics. A department that runs its own system consumes its unit's topic
`unit.<unit_code>.cases` with any Kafka client and its own credentials, and answers on its unit's topic
`unit.<unit_code>.feedback` (accepted, returned with a reason, progress, resolved, failed) naming the
assignment_id: only its principal may write there, so the topic says who answered (`case.feedback` is
deprecated for departments, docs/adr/0071). Consumers must be idempotent by event_id.
JSON Schema of each event: contracts/schemas/<event_type>.json.
"""


def build() -> dict[str, Any]:
    brokers = []
    subscribed: dict[str, Any] = {}
    for name in SERVICE_PORTS:
        app = importlib.import_module(f"yima_{name}.app").create_app()
        # Every process that verifies staff tokens reads staff.session_revoked (yima_kit.revocation_feed).
        if (feed := getattr(app.state, "revocation_feed", None)) is not None:
            brokers.append(feed.spec_broker())
            subscribed[f"{name}:{SPEC_NAME}"] = StaffSessionRevoked
        rt = getattr(app.state, "runtime", None)
        if rt is None:  # a service without a broker of its own (the staff console) publishes no events
            continue
        brokers.append(rt.broker)
        if rt.consumers.spec_broker is not None:  # folded consumers: each handler's subscriber is listed there
            brokers.append(rt.consumers.spec_broker)
        subscribed.update(rt.consumers.subscribed)
    spec = AsyncAPI(*brokers, title="yima events", version="1.0.0", description=DESCRIPTION).to_specification()
    doc: dict[str, Any] = spec.to_jsonable()
    doc["servers"] = {"local": {
        "host": "127.0.0.1:9092", "protocol": "kafka", "description": "yima-dev run (SASL_PLAINTEXT, loopback only)",
        "security": [{"$ref": "#/components/securitySchemes/scram"}]}}
    for ch in doc.get("channels", {}).values():
        ch["servers"] = [{"$ref": "#/servers/local"}]
    # Subscribers take raw messages (they validate and dead-letter themselves): put their contracts in.
    doc.setdefault("components", {})["securitySchemes"] = {"scram": {
        "type": "scramSha512", "description": "one principal per service, per department system and a read-only "
        "operator; `./yima run` prints a department's and the operator's (docs/adr/0070)"}}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for title, model in subscribed.items():
        key = f"{title}:Message:Payload"
        schemas[key] = model.model_json_schema(ref_template=f"#/components/schemas/{key}/$defs/{{model}}")
    return doc


def render() -> str:
    return yaml.safe_dump(build(), allow_unicode=True, sort_keys=True, width=120)


def drifted(path: Path = ASYNCAPI_FILE) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != render()


def write(path: Path = ASYNCAPI_FILE) -> None:
    path.write_text(render(), encoding="utf-8")
