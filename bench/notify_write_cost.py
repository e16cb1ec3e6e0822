"""The database server's CPU per text that notify writes to ``notifications``, before and after ADR 0208/0209: the
indexes of the collection (12 then, 9 now) and the writes of a text alone (staged, claimed, marked then; staged
already claimed and marked now), on a fresh MongoDB-protocol server of its own, one client, nothing else running.

    uv run python bench/notify_write_cost.py [--texts 600] [--group 6] [--mongo-url URL]

Documents of the shape ``NotifyService.stage`` writes (an SMS with three units in scope, an inbox message); the
writes as the worker sends them (``_id $in`` groups of ``--group``). CPU from ``/proc/<pid>/stat`` of the server
(its pid from ``serverStatus``), so it must run on this machine; the load of other processes changes it little
(a process's CPU time, not the wall clock). Prints the server's CPU per document for each step and per text.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from yima_devstack.bench.probe import process_cpu_seconds
from yima_devstack.infra import free_port, wait_for_mongo
from yima_devstack.installer import Installer
from yima_notify.adapters.mongo_repo import MongoLedger

BEFORE = [  # notifications' indexes at 9370ff2 (ADR 0200)
    ([("source_event_id", 1), ("recipient", 1), ("channel", 1)], {"unique": True}),
    ([("case_id", 1), ("channel", 1), ("recipient_kind", 1), ("created_at", 1)], {}),
    ([("channel", 1), ("state", 1), ("not_before", 1)], {}),
    ([("channel", 1), ("address_key", 1), ("state", 1), ("batch_id", 1), ("not_before", 1)], {}),
    ([("_id", 1), ("owner", 1), ("state", 1)], {}),
    ([("owner", 1), ("state", 1), ("_id", 1)], {}),
    ([("batch_id", 1), ("state", 1), ("owner", 1)], {}),
    ([("channel", 1), ("state", 1), ("recipient", 1)], {}),
    ([("invitation_id", 1)], {"sparse": True}),
    ([("channel", 1), ("unit_code", 1), ("created_at", -1)], {}),
    ([("state", 1), ("scope_units", 1)], {}),
]


def text(i: int, run: str, channel: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "_id": f"{run}-{i}|applicant|{channel}", "source_event_id": f"{run}-{i}", "source_event_type": "case.status.v1",
        "case_id": f"case-{run}-{i // 3}", "case_number": "JSQ-2026-000123", "correlation_id": f"case-{run}-{i // 3}",
        "recipient": "applicant", "recipient_kind": "applicant", "unit_code": None, "channel": channel,
        "template_id": "applicant.submitted.v1", "title": "纠纷已登记", "text": "x" * 240, "urgent": False,
        "scope_units": ["410105001001", "410105001", "410105"], "attempts": 0, "created_at": now, "seq": ObjectId(),
        "occurred_at": now,
    }
    if channel == "inbox":
        doc.update(state="delivered", delivered_at=now, read_at=None)
    else:
        doc.update(state="queued", not_before=now, address="y" * 60, address_key=f"key-{run}-{i}", batch_id=None,
                   owner=None, claimed_at=None)
    return doc


class Server:
    def __init__(self, client: AsyncMongoClient[Any], pid: int) -> None:
        self.client, self.pid = client, pid

    def cpu(self) -> float:
        return process_cpu_seconds(self.pid) or 0.0


async def timed(server: Server, work: Any) -> float:
    before = server.cpu()
    await work
    return server.cpu() - before


async def variant(server: Server, name: str, texts: int, group: int) -> dict[str, float]:
    db = server.client[f"writecost_{name}_{ObjectId()}"]
    col = db["notifications"]
    if name == "before":
        for keys, opts in BEFORE:
            await col.create_index(keys, **opts)
    else:
        await MongoLedger(db).setup()
    run, owner, now = str(ObjectId()), "worker-1", datetime.now(UTC)
    docs = [text(i, run, "sms") for i in range(texts)]
    if name == "after":  # staged already claimed (ADR 0209)
        for d in docs:
            d.update(state="sending", owner=owner, claimed_at=now)
    out: dict[str, float] = {}
    out["inbox insert"] = await timed(server, col.insert_many([text(i, run, "inbox") for i in range(texts)]))
    out["text insert"] = await timed(server, col.insert_many(docs))
    ids = [d["_id"] for d in docs]
    groups = [ids[i:i + group] for i in range(0, len(ids), group)]

    async def claim() -> None:
        for g in groups:
            await col.update_many({"owner": None, "state": "queued", "_id": {"$in": g}},
                                  {"$set": {"state": "sending", "owner": owner, "claimed_at": now}})

    async def mark() -> None:
        for g in groups:
            await col.update_many({"owner": owner, "state": "sending", "_id": {"$in": g}},
                                  {"$set": {"state": "delivered", "delivered_at": now, "owner": None,
                                            "delivered_by": owner}})
    out["text claim"] = await timed(server, claim()) if name == "before" else 0.0
    out["text mark"] = await timed(server, mark())
    assert await col.count_documents({"state": "delivered", "channel": "sms"}) == texts
    await server.client.drop_database(db.name)
    return {k: v * 1000 / texts for k, v in out.items()}


async def main(url: str, texts: int, group: int, rounds: int) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True)
    pid = int((await client.admin.command("serverStatus")).get("pid") or 0)
    server = Server(client, pid)
    try:
        results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(rounds):  # interleaved
            for name in results:
                results[name].append(await variant(server, name, texts, group))
        print(f"server CPU, ms per document ({texts} texts and {texts} inbox messages, {rounds} interleaved rounds, "
              f"median):")
        steps = list(results["before"][0])
        print(f"{'':14s}" + "".join(f"{s:>14s}" for s in steps) + f"{'per text':>12s}")
        for name, runs in results.items():
            med = {s: sorted(r[s] for r in runs)[len(runs) // 2] for s in steps}
            per_text = med["text insert"] + med["text claim"] + med["text mark"]
            print(f"{name:14s}" + "".join(f"{med[s]:14.2f}" for s in steps) + f"{per_text:12.2f}")
    finally:
        await client.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--group", type=int, default=6, help="texts per claim or mark statement (_id $in)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mongo-url", default=None, help="a server on this machine (default: start a fresh one)")
    args = ap.parse_args()
    if args.mongo_url:
        asyncio.run(main(args.mongo_url, args.texts, args.group, args.rounds))
    else:  # a fresh stand-in of the pinned version, its own data directory, stopped by its pid
        installer = Installer()
        installer.install()
        port = free_port()
        proc = subprocess.Popen([installer.secantus_bin(), "--host", "127.0.0.1", "--port", str(port),
                                 "--storage-path", tempfile.mkdtemp(prefix="yima-writecost-")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"mongodb://127.0.0.1:{port}/"
            wait_for_mongo(url, 30.0)
            asyncio.run(main(url, args.texts, args.group, args.rounds))
        finally:
            proc.terminate()
            proc.wait(30)
