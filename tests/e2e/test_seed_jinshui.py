"""Jinshui (金水区, “一码解纠纷” on 郑好办), written from the seed: platform administrators at three levels — district
(区级平台管理员), street (街道平台管理员), community (社区受理员) — each with different rights; “谁分配、谁督办、
谁受理、谁反馈”. What broke when the story was tried: no administrator could ever sign in. Here the first district
administrator starts from the operator's one command; every other account is made by an administrator above it,
inside the system, each signing in with its own password and (administrators) a TOTP code; no administrator
reaches beyond its own unit; a resident scans the community's code and the community's new 受理员 finds the case
in the unit's queue.

Only public interfaces: the command an operator runs (``yima-routing bootstrap-admin``), routing's and intake's
HTTP APIs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from yima_devstack.kafka_tools import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DISTRICT_ADMIN = "410105-01"
STREET_ADMIN = "410105002-01"  # 经八路街道
COMMUNITY = "410105002007"  # 园田里社区 (works in yima's console)
COMMUNITY_ADMIN = f"{COMMUNITY}-04"
OTHER_STREETS_COMMUNITY_ADMIN = "410105003001-04"  # 花园路街道's 金桥路社区
NEIGHBOURING_COMMUNITY = "410105002006"


def bootstrap(env: dict[str, str]) -> tuple[str, str]:
    """The operator's command: the first district admin's one-time password and TOTP secret. When an earlier
    test of this platform enrolled a district admin already, the command refuses, and ``--reset`` (a lost
    phone) is the way."""
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "yima_routing", "bootstrap-admin", DISTRICT_ADMIN, *extra],
                              env=env, capture_output=True, text=True, timeout=120)

    out = run()
    if out.returncode == 2:
        assert "已有区级管理员绑定了动态口令" in out.stderr, out.stderr
        out = run("--reset")
    assert out.returncode == 0, out.stderr
    password = re.search(r"初始密码（首次登录后须修改）：(\S+)", out.stdout)
    secret = re.search(r"动态口令密钥（录入身份验证器App）：(\S+)", out.stdout)
    assert password and secret, out.stdout
    return password.group(1), secret.group(1)


async def sign_in(http: httpx.AsyncClient, who: str, password: str, secret: str | None) -> dict[str, str]:
    """Sign in (with the current TOTP code for an administrator), change the initial password as the first
    sign-in must, and answer the new session's headers."""
    body: dict[str, Any] = {"username": who, "password": password}
    if secret is not None:
        refused = await http.post("/api/v1/auth/login", json=body)
        assert refused.status_code in (401, 403), refused.text  # an administrator without a code: refused
        body["totp"] = pyotp.TOTP(secret).now()
    r = await http.post("/api/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["must_change_password"] is True
    first = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await http.get("/api/v1/admin/rules", headers=first)).status_code == 403  # nothing before the change
    changed = await http.post("/api/v1/auth/password", headers=first, json={
        "current_password": password, "new_password": f"Jinshui-{uuid.uuid4().hex[:8]}-Ok"})
    assert changed.status_code == 200, changed.text
    return {"Authorization": f"Bearer {changed.json()['access_token']}"}


async def enrol(http: httpx.AsyncClient, admin: dict[str, str], who: str, totp: bool) -> tuple[str, str | None]:
    """An administrator gives ``who`` an initial password (and a TOTP secret for an administrator)."""
    password = f"Init-{uuid.uuid4().hex[:10]}!"
    r = await http.post(f"/api/v1/admin/staff/{who}/password", headers=admin, json={"password": password})
    assert r.status_code == 200, r.text
    if not totp:
        return password, None
    r = await http.post(f"/api/v1/admin/staff/{who}/totp", headers=admin)
    assert r.status_code == 200, r.text
    return password, parse_qs(urlparse(r.json()["otpauth_uri"]).query)["secret"][0]


async def test_three_levels_of_administrators_start_from_one_command_and_a_community_takes_its_case(
        platform) -> None:
    routing_proc = platform.procs["routing"]
    assert routing_proc.env is not None
    password, secret = bootstrap(routing_proc.env)
    async with httpx.AsyncClient(base_url=routing_proc.url, timeout=20) as http, \
            httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=20) as intake:
        district = await sign_in(http, DISTRICT_ADMIN, password, secret)

        # 区级 → 街道: the district enrols the street's administrator
        street = await sign_in(http, STREET_ADMIN, *await enrol(http, district, STREET_ADMIN, totp=True))
        # 街道 → 社区: the street enrols its community's administrator, and no other street's
        community = await sign_in(http, COMMUNITY_ADMIN, *await enrol(http, street, COMMUNITY_ADMIN, totp=True))
        beyond = await http.post(f"/api/v1/admin/staff/{OTHER_STREETS_COMMUNITY_ADMIN}/totp", headers=street)
        assert beyond.status_code == 403, beyond.text

        # 社区: the community's administrator makes a new 受理员 in its own community, and nowhere else
        clerk = f"{COMMUNITY}-e2e{uuid.uuid4().hex[:6]}"
        made = await http.put(f"/api/v1/admin/staff/{clerk}", headers=community, json={
            "name": "李受理", "unit": COMMUNITY, "role": "dispatcher", "reason": "新增社区受理员"})
        assert made.status_code == 200, made.text
        elsewhere = await http.put(f"/api/v1/admin/staff/{clerk}x", headers=community, json={
            "name": "王受理", "unit": NEIGHBOURING_COMMUNITY, "role": "dispatcher", "reason": "越权新增"})
        assert elsewhere.status_code == 403, elsewhere.text
        desk = await sign_in(http, clerk, *await enrol(http, community, clerk, totp=False))

        # 扫码: a resident scans the community's code and registers a dispute
        r = await intake.post("/api/v1/cases", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "channel": "self_service", "applicant": {"name": "赵阿姨", "phone": f"139{uuid.uuid4().int % 10**8:08d}"},
            "description": "楼上邻居每天夜里十二点以后还在拖动桌椅，噪音很大，上去沟通过两次没有用",
            "location": {"unit_code": COMMUNITY}})
        assert r.status_code == 201, r.text
        case_id = r.json()["case_id"]

        # 谁受理: the new 受理员 finds it in the community's queue
        async def in_queue() -> dict[str, Any] | None:
            q = await http.get(f"/api/v1/units/{COMMUNITY}/queue", headers=desk)
            assert q.status_code == 200, q.text
            return next((i for i in q.json()["items"] if i["case_id"] == case_id), None)

        item = await wait_for(in_queue, timeout=90)
        assert item["case_number"] == r.json()["case_number"]
