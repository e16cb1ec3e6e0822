"""The hash-chained audit log and its per-call middleware, against the real MongoDB-protocol server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI, HTTPException
from yima_contracts.codes import StaffRole
from yima_kit.audit import GENESIS, AuditLog, audit_router, install_audit_middleware
from yima_kit.auth import StaffClaims, TokenIssuer, TokenVerifier, staff_auth
from yima_kit.crypto import FieldCipher
from yima_kit.mongo import connect, in_transaction

pytestmark = pytest.mark.integration

K1 = b"1" * 16
K2 = b"2" * 16


def claims(role: StaffRole = StaffRole.DISPATCHER, unit: str = "JSQ-LDTJ", sub: str = "s-1") -> StaffClaims:
    return StaffClaims(sub=sub, name="", unit=unit, role=role, unit_path=[unit], mfa=False, iat=0, exp=0, jti="j")


@pytest.fixture
async def mongo(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    yield client, client[f"{mongo_db_prefix}audit"]
    await client.drop_database(f"{mongo_db_prefix}audit")
    await client.close()


async def test_records_chain_and_an_edit_or_a_removal_is_found(mongo) -> None:
    client, db = mongo
    audit = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await audit.setup()
    assert await audit.verify() == (True, 0, None)
    for i in range(5):
        seq = await audit.append_alone(client, actor=claims(), action="case.accept", object_type="assignment",
                                       object_id=f"a-{i}", success=i != 3, detail="x" * 400)
        assert seq == i + 1
    first = await db["audit"].find_one({"_id": 1})
    assert first["prev"] == GENESIS and first["actor"] == "s-1" and first["actor_unit"] == "JSQ-LDTJ"
    assert first["actor_role"] == "dispatcher" and first["key_id"] == "k1" and len(first["detail"]) == 300
    assert await audit.verify() == (True, 5, None)

    await db["audit"].update_one({"_id": 3}, {"$set": {"success": False}})
    assert await audit.verify() == (False, 3, 3)
    await db["audit"].update_one({"_id": 3}, {"$set": {"success": True}})
    assert await audit.verify() == (True, 5, None)

    await db["audit"].delete_one({"_id": 5})  # the end of the chain: only the head knows
    assert await audit.verify() == (False, 4, 5)
    # Someone with the database but not the key moves the head back to match: its signature gives it away.
    four = await db["audit"].find_one({"_id": 4})
    await db["audit_head"].update_one({"_id": "head"}, {"$set": {"seq": 4, "hash": four["hash"]}})
    assert await audit.verify() == (False, 4, 4)


async def test_an_append_commits_or_aborts_with_the_callers_transaction(mongo) -> None:
    client, db = mongo
    audit = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await audit.setup()

    async def refused(session) -> None:
        await audit.append(session, actor="system", action="x", object_type="t", object_id="1")
        raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        await in_transaction(client, refused)
    assert await db["audit"].count_documents({}) == 0
    assert await in_transaction(client, lambda s: audit.append(s, actor="system", action="x", object_type="t",
                                                               object_id="1")) == 1
    assert await audit.verify() == (True, 1, None)


async def test_concurrent_appends_serialise_on_the_head(mongo) -> None:
    client, db = mongo
    audit = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await audit.setup()
    seqs = await asyncio.gather(*(audit.append_alone(client, actor=f"s-{i}", action="a", object_type="t",
                                                     object_id=str(i)) for i in range(8)))
    assert sorted(seqs) == list(range(1, 9))
    assert await audit.verify() == (True, 8, None)


async def test_records_made_before_a_key_rotation_still_verify(mongo) -> None:
    client, db = mongo
    old = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await old.setup()
    await old.append_alone(client, actor="s-1", action="a", object_type="t", object_id="1")
    rotated = AuditLog(db, FieldCipher({"k1": K1, "k2": K2}, "k2"))
    await rotated.append_alone(client, actor="s-1", action="a", object_type="t", object_id="2")
    assert [d["key_id"] async for d in db["audit"].find().sort("_id", 1)] == ["k1", "k2"]
    assert await rotated.verify() == (True, 2, None)
    # without the old key the old record cannot be vouched for; a key id that was forged in is refused too
    assert await AuditLog(db, FieldCipher({"k2": K2}, "k2")).verify() == (False, 1, 1)
    await db["audit"].update_one({"_id": 2}, {"$set": {"key_id": "k1"}})
    assert await rotated.verify() == (False, 2, 2)


async def test_plain_records_from_before_the_chain_are_outside_it(mongo) -> None:
    client, db = mongo
    await db["audit"].insert_one({"_id": ObjectId(), "staff_id": "s-1", "path": "/api/v1/queue", "success": True})
    audit = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await audit.setup()
    await audit.append_alone(client, actor="s-1", action="a", object_type="t", object_id="1")
    assert await audit.verify() == (True, 1, None)
    await db["audit"].update_one({"_id": 1}, {"$set": {"object_id": "2"}})
    assert (await audit.verify())[0] is False


# --- the middleware ---------------------------------------------------------------------------------------


@pytest.fixture
async def app(mongo):
    client, db = mongo
    audit = AuditLog(db, FieldCipher({"k1": K1}, "k1"))
    await audit.setup()
    verifier = TokenVerifier.from_setting("")
    require = staff_auth(verifier)
    dispatcher, any_staff = require(StaffRole.DISPATCHER), require()
    app = FastAPI()

    @app.get("/api/v1/things/{thing_id}")
    async def thing(thing_id: str, c: StaffClaims = dispatcher) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, "没有")
        return {"thing_id": thing_id}

    @app.get("/api/v1/boom")
    async def boom(c: StaffClaims = any_staff) -> None:
        raise RuntimeError("boom")

    @app.get("/api/v1/public/{code}")
    async def public(code: str) -> dict[str, str]:
        return {"code": code}

    app.include_router(audit_router(audit, require(StaffRole.ADMIN, StaffRole.ANALYST)))
    install_audit_middleware(app, audit, verifier, client, skip=["/api/v1/public/"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        yield http, db


def bearer(role: StaffRole = StaffRole.DISPATCHER, sub: str = "s-1") -> dict[str, str]:
    tok = TokenIssuer.dev().issue(staff_id=sub, unit="JSQ-LDTJ", role=role, unit_path=["JSQ-LDTJ"])
    return {"Authorization": f"Bearer {tok}"}


async def test_every_staff_call_is_one_record_refusals_included(app) -> None:
    http, db = app
    assert (await http.get("/api/v1/things/t-1", headers=bearer())).status_code == 200
    assert (await http.get("/api/v1/things/t-2", headers=bearer(StaffRole.MEDIATOR, "m-1"))).status_code == 403
    assert (await http.get("/api/v1/things/missing", headers=bearer())).status_code == 404
    assert (await http.get("/api/v1/things/t-3", headers={"Authorization": "Bearer forged"})).status_code == 401
    assert (await http.get("/api/v1/nowhere/13812345678", headers=bearer())).status_code == 404
    assert (await http.get("/api/v1/boom", headers=bearer())).status_code == 500
    assert (await http.get("/api/v1/things/t-4")).status_code == 401  # no token: not a staff call
    assert (await http.get("/api/v1/public/SECRET", headers=bearer())).status_code == 200  # skipped
    rows = [(d["actor"], d["actor_role"], d["action"], d["object_type"], d["object_id"], d["success"], d["detail"])
            async for d in db["audit"].find().sort("_id", 1)]
    assert rows == [
        ("s-1", "dispatcher", "GET /api/v1/things/{thing_id}", "thing", "t-1", True, "HTTP 200"),
        ("m-1", "mediator", "GET /api/v1/things/{thing_id}", "thing", "t-2", False, "HTTP 403"),
        ("s-1", "dispatcher", "GET /api/v1/things/{thing_id}", "thing", "missing", False, "HTTP 404"),
        ("s-1", "dispatcher", "GET (no route)", "", "", False, "HTTP 404"),  # what was typed is not kept
        ("s-1", "dispatcher", "GET /api/v1/boom", "", "", False, "HTTP 500"),
    ]

    v = await http.get("/api/v1/audit/verify", headers=bearer(StaffRole.ANALYST, "an-1"))
    assert v.json() == {"intact": True, "records": 5, "first_bad": None}  # forged: no record; verify comes after
    assert (await http.get("/api/v1/audit/verify", headers=bearer())).status_code == 403
    await db["audit"].update_one({"_id": 2}, {"$set": {"success": True}})
    v = await http.get("/api/v1/audit/verify", headers=bearer(StaffRole.ADMIN, "ad-1"))
    assert v.json() == {"intact": False, "records": 2, "first_bad": 2}
