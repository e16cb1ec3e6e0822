"""Body limits before parsing, the forced password change and session revocation in the staff dependency."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from yima_contracts.codes import StaffRole
from yima_kit.auth import (
    PasswordChangeRequired,
    SessionRevocations,
    SessionRevoked,
    StaffClaims,
    TokenIssuer,
    TokenVerifier,
    staff_auth,
)
from yima_kit.errors import install_error_shape
from yima_kit.limits import BodySizeLimit


def make_app(revocations: SessionRevocations) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    read: list[int] = []
    require = staff_auth(TokenVerifier.from_setting("", revocations))
    anyone, changing = require(), require(password_change_ok=True)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        read.append(len(body))
        return {"bytes": len(body)}

    @app.get("/work")
    async def work(c: StaffClaims = anyone) -> dict[str, str]:
        return {"sub": c.sub}

    @app.post("/password")
    async def password(c: StaffClaims = changing) -> dict[str, str]:
        return {"sub": c.sub}

    app.add_middleware(BodySizeLimit, max_bytes=1000)
    install_error_shape(app)
    return app, read


@pytest.fixture
async def http() -> Any:
    revocations = SessionRevocations()
    app, read = make_app(revocations)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client, read, revocations


def bearer(**kw: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + TokenIssuer.dev().issue(staff_id="s-1", unit="U1", role=StaffRole.MEDIATOR,
                                                                 **kw)}


async def test_a_body_over_the_limit_is_refused_before_it_is_read(http) -> None:
    client, read, _ = http
    assert (await client.post("/echo", content=b"x" * 1000)).json() == {"bytes": 1000}
    big = await client.post("/echo", content=b"x" * 3_000_000)
    assert big.status_code == 413 and big.json()["errors"][0]["code"] == "body_too_large"
    assert "过大" in big.json()["message"]

    async def chunks():  # no Content-Length: counted while it arrives, stopped past the limit
        for _ in range(50):
            yield b"y" * 100

    chunked = await client.post("/echo", content=chunks())
    assert chunked.status_code == 413
    assert read == [1000]  # neither large body reached the handler


async def test_a_holder_who_must_change_the_password_may_only_change_it(http) -> None:
    client, _, _ = http
    tok = bearer(pwc=True, sid="s1")
    r = await client.get("/work", headers=tok)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "password_change_required"
    assert "修改密码" in r.json()["message"]
    assert (await client.post("/password", headers=tok)).status_code == 200
    assert (await client.get("/work", headers=bearer(sid="s2"))).status_code == 200
    with pytest.raises(PasswordChangeRequired):
        TokenVerifier.from_setting("").verify(tok["Authorization"][7:])


async def test_a_revoked_session_is_refused_everywhere_until_its_tokens_expire(http) -> None:
    client, _, revocations = http
    tok = bearer(sid="sess-1")
    assert (await client.get("/work", headers=tok)).status_code == 200
    revocations.revoke("sess-1", until=4_000_000_000)
    r = await client.get("/work", headers=tok)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "session_revoked"
    assert (await client.get("/work", headers=bearer(sid="sess-2"))).status_code == 200
    anon = await client.get("/work")
    assert anon.status_code == 401 and anon.json()["errors"][0]["code"] == "unauthenticated"
    with pytest.raises(SessionRevoked):
        TokenVerifier.from_setting("", revocations).verify(tok["Authorization"][7:])


def test_revocations_forget_a_session_once_its_tokens_have_expired() -> None:
    now = [1000.0]
    r = SessionRevocations(clock=lambda: now[0])
    r.revoke("a", until=2000)
    r.revoke("b", until=900)  # already expired: nothing to remember
    assert r.is_revoked("a") and not r.is_revoked("b") and len(r) == 1
    now[0] = 2001
    assert not r.is_revoked("a") and len(r) == 0


def test_generated_keys_are_read_from_the_secrets_dir_and_kept(tmp_path) -> None:
    from yima_kit.keys import write_dir
    from yima_kit.settings import KitSettings

    assert write_dir(tmp_path) is True
    first = (tmp_path / "auth_public_keys").read_text()
    assert write_dir(tmp_path) is False and (tmp_path / "auth_public_keys").read_text() == first
    s = KitSettings(secrets_dir=str(tmp_path), environment="production")
    assert len(s.sm4_key_hex) == 32 and s.auth_public_keys == first
    verifier = TokenVerifier.from_setting(s.auth_public_keys)
    assert not verifier.uses_dev_key()
    given = KitSettings(secrets_dir=str(tmp_path), sm4_key_hex="ab" * 16)  # an explicit value wins
    assert given.sm4_key_hex == "ab" * 16
