"""Example: a department's own system on yima's Kafka contract — no yima code, any Kafka client will do.

    python department_consumer.py --bootstrap 127.0.0.1:9092 --unit 410105001001 \
        --username dept-410105001001 --password '<printed by ./yima run>'

0. Log in with your unit's own Kafka principal (SASL/SCRAM-SHA-512; SASL_SSL in production, SASL_PLAINTEXT on
   the local stack): it may read only your ``unit.<unit_code>.cases``, write only your
   ``unit.<unit_code>.feedback`` and use consumer groups ``dept-<unit_code>`` or ``dept-<unit_code>.…``.
1. Read the unit's own topic ``unit.<unit_code>.cases`` (one JSON work order per assignment, event type
   ``unit.case_assigned.v1``; key = case id). Use your own consumer group and commit after handling.
2. Answer on your unit's own topic ``unit.<unit_code>.feedback`` (not ``case.feedback``: deprecated, see
   docs/adr/0071-per-unit-feedback-topics.md) with ``case.feedback.v1`` naming the same ``assignment_id`` and
   your ``unit_code`` (a message naming another unit is refused): ``accepted`` at once, then ``progress``
   notes, and ``resolved`` or ``failed`` (reason required); ``returned`` (reason required) if the case is not
   yours — it goes back to the supervisor.
   Key the message by the case id, and give every message a fresh ``event_id`` (resend the same one to retry:
   yima processes an event_id once).
The schemas are in contracts/schemas/ and contracts/asyncapi.yaml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any


def feedback(order: dict[str, Any], kind: str, *, reason: str | None = None, note: str | None = None) -> dict[str, Any]:
    """The JSON answer to a work order (``kind``: accepted, progress, resolved, failed, returned)."""
    msg: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "case.feedback.v1",
        "case_id": order["case_id"],
        "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": order["correlation_id"],
        "actor": {"kind": "unit_system", "unit_code": order["unit_code"]},
        "assignment_id": order["assignment_id"],
        "unit_code": order["unit_code"],
        "kind": kind,
    }
    if reason:
        msg["reason"] = reason
    if note:
        msg["note"] = note
    return msg


def sasl(username: str, password: str, protocol: str = "SASL_PLAINTEXT") -> dict[str, Any]:
    """aiokafka's arguments for your unit's principal."""
    return {"security_protocol": protocol, "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": username, "sasl_plain_password": password}


async def run(bootstrap: str, unit: str, auth: dict[str, Any]) -> None:  # pragma: no cover - run by hand
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(f"unit.{unit}.cases", bootstrap_servers=bootstrap, group_id=f"dept-{unit}",
                                enable_auto_commit=False, auto_offset_reset="earliest", **auth)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **auth)
    await consumer.start()
    await producer.start()
    try:
        async for record in consumer:
            order = json.loads(record.value)
            if order.get("event_type") != "unit.case_assigned.v1":
                continue
            print(f"{order['case_number']} {order['category']} 期限 {order['due_at']}")
            answer = feedback(order, "accepted", note="已受理，将于两个工作日内联系申请人")
            await producer.send_and_wait(f"unit.{unit}.feedback", json.dumps(answer, ensure_ascii=False).encode(),
                                         key=order["case_id"].encode())
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--unit", required=True, help="your unit code, e.g. 410105001001")
    p.add_argument("--username", required=True, help="your unit's Kafka principal, e.g. dept-410105001001")
    p.add_argument("--password", required=True)
    p.add_argument("--protocol", default="SASL_PLAINTEXT", choices=["SASL_PLAINTEXT", "SASL_SSL"])
    args = p.parse_args()
    asyncio.run(run(args.bootstrap, args.unit, sasl(args.username, args.password, args.protocol)))
