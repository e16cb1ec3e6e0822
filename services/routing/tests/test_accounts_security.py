"""Accounts under attack: parallel guesses, admins reaching above their scope, ids in another letter case,
sessions that must end, and the first district admin's bootstrap — against the real database."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from yima_kit.auth import TokenVerifier
from yima_routing import accounts as accounts_module

pytestmark = pytest.mark.integration
SEED_PASSWORD = "Yima#Demo2026"
NEW_PASSWORD = "Changed#2026!x"


async def login(routing, username: str, password: str = SEED_PASSWORD, totp: str | None = None):
    body = {"username": username, "password": password} | ({"totp": totp} if totp else {})
    return await routing.http.post("/api/v1/auth/login", json=body)


async def ready_to_work(routing, staff_id: str) -> dict[str, str]:
    """Sign in with the seeded password and make the forced change: the token of the new session."""
    first = await login(routing, staff_id)
    assert first.status_code == 200, first.text
    h = {"Authorization": f"Bearer {first.json()['access_token']}"}
    changed = await routing.http.post("/api/v1/auth/password", headers=h,
                                      json={"current_password": SEED_PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    return {"Authorization": f"Bearer {changed.json()['access_token']}"}


@pytest.fixture(autouse=True)
async def fresh_sources(routing):
    await routing.db["login_sources"].delete_many({})  # every test here starts with a clean source address


async def test_29_wrong_passwords_and_the_right_one_in_parallel_lock_the_account(routing) -> None:
    user = "410105001003-01"
    tries = [login(routing, user, f"Wrong#{i:04d}xyz") for i in range(29)] + [login(routing, user)]
    answers = await asyncio.gather(*tries)
    codes = [a.status_code for a in answers]
    checked = [c for c in codes if c in (200, 401)]
    assert len(checked) <= 5, codes  # one atomic increment per attempt: only five passwords were ever checked
    assert codes.count(423) >= 25
    # Locked now, whatever came first: the right password is refused too (from a fresh address as well).
    await routing.db["login_sources"].delete_many({})
    again = await login(routing, user)
    assert again.status_code == 423 and again.json()["errors"][0]["code"] == "locked"


async def test_one_address_guessing_over_many_accounts_is_stopped(routing, monkeypatch) -> None:
    accounts = routing.app.state.accounts
    monkeypatch.setattr(accounts, "policy", replace(accounts.policy, max_failures_per_source=6))
    answers = await asyncio.gather(*[login(routing, f"nobody-{i}", "Wrong#0000xyz") for i in range(10)])
    assert sorted(a.status_code for a in answers) == [401] * 6 + [429] * 4
    assert [a.json()["errors"][0]["code"] for a in answers if a.status_code == 429] == ["too_many_attempts"] * 4


async def test_argon2_runs_off_the_event_loop(routing, monkeypatch) -> None:
    threads: list[str] = []
    real = accounts_module.HASHER

    class Spy:
        def verify(self, h: str, p: str) -> bool:
            threads.append(threading.current_thread().name)
            return real.verify(h, p)

    monkeypatch.setattr(accounts_module, "HASHER", Spy())
    await login(routing, "410105001004-01", "Wrong#0000xyz")
    await login(routing, "nobody-at-all", "Wrong#0000xyz")
    assert threads and all(t.startswith("argon2") for t in threads), threads


async def test_a_street_admin_cannot_lift_a_unit_above_their_scope(routing) -> None:
    street_admin = routing.token("410105001-01", mfa=True)  # 丰产路街道

    def unit(parent: str | None, name: str = "丰产路街道") -> dict:
        return {"name": name, "kind": "street", "parent": parent, "reason": "调整上级单位"}

    own_to_top = await routing.http.put("/api/v1/admin/units/410105001", headers=street_admin, json=unit(None))
    assert own_to_top.status_code == 403 and own_to_top.json()["errors"][0]["code"] == "out_of_scope"
    assert routing.app.state.store.current.get("410105001").parent == "410105"
    community = {"name": "农业路社区", "kind": "community", "reason": "划到别的街道"}
    away = await routing.http.put("/api/v1/admin/units/410105001002", headers=street_admin,
                                  json=community | {"parent": "410105002"})
    assert away.status_code == 403  # out of the admin's street: it would leave their scope
    up = await routing.http.put("/api/v1/admin/units/410105001002", headers=street_admin,
                                json=community | {"parent": None})
    assert up.status_code == 403
    new_top = await routing.http.put("/api/v1/admin/units/FCL-NEW", headers=street_admin,
                                     json={"name": "新单位", "kind": "committee", "parent": None, "reason": "新建"})
    assert new_top.status_code == 403
    # The district-only writes stay district-only for a street admin.
    cal = await routing.http.put("/api/v1/admin/calendar/2031-01-02", headers=street_admin,
                                 json={"workday": False, "reason": "试图改日历"})
    assert cal.status_code == 403 and cal.json()["errors"][0]["code"] == "out_of_scope"
    rules = await routing.http.put("/api/v1/admin/rules", headers=street_admin, json={"rules": {}, "reason": "越权"})
    assert rules.status_code == 403
    # Within scope a move is fine: the district admin moves a community between streets and back.
    district = routing.token("410105-01", mfa=True)
    for parent in ("410105002", "410105001"):
        r = await routing.http.put("/api/v1/admin/units/410105001002", headers=district,
                                   json=community | {"parent": parent})
        assert r.status_code == 200, r.text


async def test_a_staff_id_in_another_letter_case_is_the_same_person(routing) -> None:
    street_admin = routing.token("410105001-01", mfa=True)  # 丰产路街道
    other = "jsq-ldtj-01"  # 劳动争议调委会: not under 丰产路街道
    assert routing.directory.staff[other].unit == "JSQ-LDTJ"
    moved = await routing.http.put(f"/api/v1/admin/staff/{other.upper()}", headers=street_admin, json={
        "name": "抢人", "unit": "410105001001", "role": "mediator", "reason": "换个写法试试"})
    assert moved.status_code == 403
    pw = await routing.http.post(f"/api/v1/admin/staff/{other.upper()}/password", headers=street_admin,
                                 json={"password": "Takeover#2026x"})
    assert pw.status_code == 403
    assert routing.app.state.store.current.staff[other].unit == "JSQ-LDTJ"
    rec = await routing.db["audit"].find_one({"action": "directory.put_staff", "success": False},
                                             sort=[("_id", -1)])
    assert rec["object_id"] == other  # filed under the one id, not as typed
    own = await routing.http.put("/api/v1/admin/staff/410105001001-09", headers=street_admin, json={
        "name": "王芳", "unit": "410105001001", "role": "mediator", "reason": "新入职"})
    assert own.status_code == 200 and own.json()["id"] == "410105001001-09"


async def test_logout_deactivation_and_idle_end_sessions(routing) -> None:
    h = await ready_to_work(routing, "410105001005-01")
    queue = "/api/v1/units/410105001005/queue"
    assert (await routing.http.get(queue, headers=h)).status_code == 200
    assert (await routing.http.post("/api/v1/auth/logout", headers=h)).status_code == 200
    r = await routing.http.get(queue, headers=h)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "session_revoked"
    assert (await routing.http.post("/api/v1/auth/refresh", headers=h)).status_code == 401

    again = await login(routing, "410105001005-01", NEW_PASSWORD)
    h = {"Authorization": f"Bearer {again.json()['access_token']}"}
    # Idle: no refresh for longer than the idle limit, and the session cannot be refreshed any more.
    routing.clock.t += timedelta(minutes=31)
    try:
        idle = await routing.http.post("/api/v1/auth/refresh", headers=h)
        assert idle.status_code == 401 and idle.json()["errors"][0]["code"] == "session_expired"
    finally:
        routing.clock.t -= timedelta(minutes=31)

    again = await login(routing, "410105001005-01", NEW_PASSWORD)
    h = {"Authorization": f"Bearer {again.json()['access_token']}"}
    district = routing.token("410105-01", mfa=True)
    off = await routing.http.put("/api/v1/admin/staff/410105001005-01", headers=district, json={
        "name": routing.directory.staff["410105001005-01"].name, "unit": "410105001005", "role": "dispatcher",
        "active": False, "reason": "离职"})
    assert off.status_code == 200, off.text
    assert (await routing.http.get(queue, headers=h)).status_code == 401
    assert (await login(routing, "410105001005-01", NEW_PASSWORD)).status_code == 401


async def test_the_first_district_admin_is_bootstrapped_once(routing) -> None:
    from yima_routing.adapters.bootstrap import BootstrapRefused, bootstrap_admin

    with pytest.raises(BootstrapRefused):
        await bootstrap_admin(routing.settings, "410105001-01")  # a street admin: enrolled by the district
    first = await bootstrap_admin(routing.settings, "410105-01")
    with pytest.raises(BootstrapRefused):
        await bootstrap_admin(routing.settings, "410105-01")  # already there: they enrol the others
    r = await login(routing, "410105-01", first.password, pyotp.TOTP(first.totp_secret).now())
    assert r.status_code == 200, r.text
    assert r.json()["must_change_password"] is True
    claims = TokenVerifier.from_setting("").verify(r.json()["access_token"], password_change_ok=True)
    assert claims.mfa is True and claims.pwc is True
    rec = await routing.db["audit"].find_one({"action": "auth.bootstrap_admin"})
    assert rec["actor"] == "bootstrap" and rec["object_id"] == "410105-01"
    assert first.password not in str(await routing.db["staff"].find_one({"_id": "410105-01"}))
