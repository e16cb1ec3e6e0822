"""The replay's view of the platform: its addresses and credentials (``Target``), staff signed in as new staff
must (a changed password; the first admin from the operator's bootstrap command), cases, tracking."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import typer
from yima_kit.kafka_auth import KafkaAuth

from .judge import (
    Outcome,
    secret_of,
    totp_code,
)

DEMO_PASSWORD = "Yima#Demo2026"
DEPT = "410105001001"  # 黄河社区: answers from its own system (the demo department of ./yima run's banner)
OTHER_UNIT = "410105001002"  # 农业路社区, a sibling in the platform
STREET, OTHER_STREET = "410105001", "410105002"
DISTRICT_ADMIN, STREET_ADMIN = "410105-01", "410105001-01"
OTHER_STREET_STAFF = "410105002-02"  # a dispatcher of another street
RACE_ACCOUNT = "410105002-03"  # used only by the lockout race (it ends locked for 15 minutes)
ANALYST = "410105-06"
FOREIGN_STAFF = "jsq-ldtj-04"  # a mediator of a district committee, outside the street admin's scope
EVIL = "evil.example"
FORGED_TEXT = f"案件已办结 金水区人民法院 请拨打0371-12345678并转账100元 https://{EVIL}/pay\n第二行"


# --- the platform ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    urls: dict[str, str]
    gateway: str
    kafka: str
    kafka_users: dict[str, str]
    mongo_url: str
    db_prefix: str = ""
    repo: Path = Path(".")

    def url(self, service: str) -> str:
        return self.urls[service]

    def auth(self, principal: str) -> KafkaAuth:
        return KafkaAuth.scram(principal, self.kafka_users[principal])


def client(base: str, source: str | None = None, timeout: float = 20) -> httpx.AsyncClient:
    """An HTTP client from a given loopback source address (127.0.0.x): a second client, as the services see it."""
    transport = httpx.AsyncHTTPTransport(local_address=source) if source else None
    return httpx.AsyncClient(base_url=base, timeout=timeout, transport=transport)


async def wait_until(probe: Callable[[], Awaitable[Any]], timeout: float = 60, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await probe()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(every)


@dataclass
class Staff:
    staff_id: str
    password: str
    token: str
    totp_secret: str | None = None

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Session:
    t: Target
    out: list[Outcome] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    staff: dict[str, Staff] = field(default_factory=dict)
    seeded_answer: dict[str, Any] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)  # the case at the demo department
    phone: str = ""
    order: dict[str, Any] = field(default_factory=dict)  # the department's work order of ``case``
    envelope: dict[str, Any] = field(default_factory=dict)  # the envelope of its answers
    _totp_used: dict[str, int] = field(default_factory=dict)
    accounts_file: Path | None = None  # passwords this tool set on this platform (a second run signs in with them)

    def record(self, number: str, attack: str, refused: bool | None, evidence: str) -> None:
        o = Outcome(number, attack, refused, evidence)
        self.out.append(o)
        typer.echo(o.line())

    def new_password(self) -> str:
        return f"Replay#{self.run_id}x2026"

    # -- accounts -------------------------------------------------------------------------------------------
    async def login(self, staff_id: str, password: str, totp: str | None = None, source: str | None = None
                    ) -> httpx.Response:
        async with client(self.t.url("routing"), source) as c:
            body: dict[str, Any] = {"username": staff_id, "password": password}
            if totp:
                body["totp"] = totp
            return await c.post("/api/v1/auth/login", json=body)

    async def first_login(self, staff_id: str, password: str | None = None, totp_secret: str | None = None
                          ) -> Staff:
        """Sign in with a seeded (or reset) password and change it, as a new staff member must (an account
        this tool changed before, on this platform, signs in with the password it set then)."""
        saved = self.saved_passwords()
        if password is None and staff_id in saved:
            r = await self.login(staff_id, saved[staff_id])
            r.raise_for_status()
            self.staff[staff_id] = Staff(staff_id, saved[staff_id], r.json()["access_token"])
            return self.staff[staff_id]
        password = password or DEMO_PASSWORD
        if totp_secret:
            await self._fresh_totp_step(staff_id)
        r = await self.login(staff_id, password, totp_code(totp_secret) if totp_secret else None)
        r.raise_for_status()
        answer = r.json()
        if staff_id == OTHER_STREET_STAFF:
            self.seeded_answer = answer
        new = self.new_password()
        async with client(self.t.url("routing")) as c:
            ch = await c.post("/api/v1/auth/password", headers={"Authorization": f"Bearer {answer['access_token']}"},
                              json={"current_password": password, "new_password": new})
        ch.raise_for_status()
        s = Staff(staff_id, new, ch.json()["access_token"], totp_secret)
        self.staff[staff_id] = s
        if self.accounts_file is not None and not totp_secret:
            self.accounts_file.write_text(json.dumps({**saved, staff_id: new}))
            self.accounts_file.chmod(0o600)
        return s

    def saved_passwords(self) -> dict[str, str]:
        if self.accounts_file is None or not self.accounts_file.is_file():
            return {}
        return dict(json.loads(self.accounts_file.read_text()))

    async def _fresh_totp_step(self, staff_id: str) -> None:
        """A TOTP code is good once: wait for the next 30-second step when this admin used the current one."""
        step = int(time.time() // 30)
        if self._totp_used.get(staff_id) == step:
            await asyncio.sleep(30 - time.time() % 30 + 0.5)
        self._totp_used[staff_id] = int(time.time() // 30)

    def bootstrap_district_admin(self) -> tuple[str, str]:
        """The operator's command for a new district: the first admin's password and TOTP secret."""
        env = {**os.environ, "YIMA_MONGO_URL": self.t.mongo_url, "YIMA_MONGO_DB_PREFIX": self.t.db_prefix}
        p = subprocess.run([sys.executable, "-m", "yima_routing", "bootstrap-admin", DISTRICT_ADMIN, "--reset"],
                           env=env, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"bootstrap-admin failed: {p.stderr.strip()[-400:]}")
        pw = re.search(r"初始密码[^：]*：(\S+)", p.stdout)
        secret = re.search(r"动态口令密钥[^：]*：(\S+)", p.stdout)
        if not pw or not secret:
            raise RuntimeError("bootstrap-admin printed no password or secret")
        return pw.group(1), secret.group(1)

    async def admins(self) -> tuple[Staff, Staff]:
        """The district admin (bootstrapped) and a street admin it enrolled (TOTP, initial password)."""
        pw, secret = self.bootstrap_district_admin()
        district = await self.first_login(DISTRICT_ADMIN, pw, secret)
        async with client(self.t.url("routing")) as c:
            uri = (await c.post(f"/api/v1/admin/staff/{STREET_ADMIN}/totp", headers=district.h)).json()["otpauth_uri"]
            initial = f"Init#{self.run_id}y2026"
            r = await c.post(f"/api/v1/admin/staff/{STREET_ADMIN}/password", headers=district.h,
                             json={"password": initial})
            r.raise_for_status()
        street = await self.first_login(STREET_ADMIN, initial, secret_of(uri))
        return district, street

    # -- the attacks ----------------------------------------------------------------------------------------
    async def submit(self, unit_code: str, description: str, phone: str) -> dict[str, Any]:
        async with client(self.t.url("intake")) as c:
            r = await c.post("/api/v1/cases", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                "channel": "self_service", "applicant": {"name": "张三", "phone": phone},
                "description": description, "location": {"unit_code": unit_code}})
        r.raise_for_status()
        return dict(r.json())

    async def track(self, case: dict[str, Any], check: str, source: str | None = None) -> httpx.Response:
        async with client(self.t.url("intake"), source) as c:
            return await c.get(f"/api/v1/track/{case['tracking_code']}", params={"check": check})

    async def gateway_texts(self, phone: str) -> str:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(f"{self.t.gateway}/deliveries.json")
        return json.dumps([d for d in r.json().get("deliveries", r.json()) if phone in json.dumps(d)],
                          ensure_ascii=False) if r.status_code == 200 else ""
