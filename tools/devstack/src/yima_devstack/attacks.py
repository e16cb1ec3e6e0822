"""``yima-dev attacks``: replay issue 14's attacks from outside against a running platform (``./yima run``)
and print one line per attack — ``refused`` or ``NOT refused`` — with the evidence (docs/security-replay.md).

It speaks to the platform only as an outsider would: HTTP to the services' URLs, Kafka with a department's and
the operator's credentials (those ``./yima run`` prints; the local stack's credentials file), the database
only to read what an attacker with a backup would see (outbox documents, the audit head), and the operator's
own ``yima-routing bootstrap-admin`` to enrol the first admin's TOTP (as a new district does). It writes cases,
staff passwords and TOTP secrets of the demo directory: run it against a demo platform, never a real one.

The pure parts (TOTP codes, how an answer is judged, the output line) are tested in tools/devstack/tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import typer
from yima_contracts import topics
from yima_kit.auth import TokenIssuer
from yima_kit.kafka_auth import KafkaAuth

from . import kafka_security
from .app import app
from .infra import free_port
from .kafka_tools import produce, read_topic
from .services import SERVICE_PORTS

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


# --- pure parts -----------------------------------------------------------------------------------------------


def totp_code(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 (SHA-1), what an authenticator app shows for ``secret_b32`` at ``at``."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(value).zfill(digits)


def secret_of(otpauth_uri: str) -> str:
    """The base32 secret of an ``otpauth://`` URI (what the admin API answers when it enrols TOTP)."""
    return parse_qs(urlsplit(otpauth_uri).query)["secret"][0]


@dataclass(frozen=True)
class Outcome:
    number: str  # the issue's item, e.g. "1a"
    attack: str
    refused: bool | None  # None: could not be replayed here (the evidence says why)
    evidence: str

    def line(self) -> str:
        verdict = {True: "refused", False: "NOT refused", None: "not replayed"}[self.refused]
        return f"[{self.number}] {verdict:<12} {self.attack} — {self.evidence}"


def refused_statuses(status: int, refusing: tuple[int, ...] = (401, 403, 404, 409, 413, 422, 423, 429)) -> bool:
    return status in refusing


def free_of(text: str, *needles: str) -> bool:
    """True when none of ``needles`` occurs in ``text`` (a forged link, a second line)."""
    return not any(n in text for n in needles)


def lockout_verdict(answers: list[int], after: int, max_failures: int = 5) -> tuple[bool, str]:
    """A parallel burst of wrong passwords and the right one: refused when the account is locked afterwards
    and no more than ``max_failures`` wrong passwords were actually checked (the others answered 423)."""
    counts = Counter(answers)
    checked_wrong = counts.get(401, 0)
    ok = after == 423 and checked_wrong <= max_failures + 1
    return ok, f"burst answered {dict(sorted(counts.items()))}; the right password afterwards: {after}"


def throttle_verdict(answers: list[int], free: int = 5) -> tuple[bool, str]:
    """A parallel burst of wrong checks and the right one on a tracking code: refused when at most ``free``
    checks were evaluated (404 wrong, 200 right) and the rest were throttled (429)."""
    counts = Counter(answers)
    evaluated = counts.get(404, 0) + counts.get(200, 0)
    return evaluated <= free, f"burst answered {dict(sorted(counts.items()))} ({evaluated} checks evaluated)"


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
class Replay:
    t: Target
    out: list[Outcome] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    staff: dict[str, Staff] = field(default_factory=dict)
    seeded_answer: dict[str, Any] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)  # the case at the demo department
    phone: str = ""
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

    async def forged_events(self) -> None:
        """1: what a department's principal can write."""
        dept = kafka_security.department_principal(DEPT)
        auth = self.t.auth(dept)
        self.phone = f"139{int(time.time()) % 10**8:08d}"
        self.case = await self.submit(DEPT, "楼上邻居家漏水把我家天花板泡坏了，找他好几次都不管", self.phone)
        cid = self.case["case_id"]

        def order(records: list[Any]) -> dict[str, Any] | None:
            mine = [json.loads(r.value) for r in records if r.key == cid.encode()]
            return mine[0] if mine else None

        wo = await read_topic(self.t.kafka, topics.unit_topic(DEPT), order, timeout=60, auth=auth)
        envelope = {"case_id": cid, "occurred_at": datetime.now(UTC).isoformat(),
                    "correlation_id": wo.get("correlation_id", cid),
                    "actor": {"kind": "unit_system", "unit_code": DEPT}}
        status = {**envelope, "event_id": str(uuid.uuid4()), "event_type": "case.status.v1", "state": "closed",
                  "title_zh": "案件已办结", "acting_unit_name": "金水区人民法院", "next_step_zh": FORGED_TEXT}
        for number, topic, what in (
            ("1a", topics.CASE_STATUS, "a department writes case.status (a forged 案件已办结 with a payment request)"),
            ("1b", topics.CASE_FEEDBACK, "a department writes the shared case.feedback (deprecated)"),
            ("1c", topics.unit_feedback_topic(OTHER_UNIT), "a department writes another unit's feedback topic"),
        ):
            value = status if topic == topics.CASE_STATUS else {
                **envelope, "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1",
                "assignment_id": wo["assignment_id"], "unit_code": OTHER_UNIT, "kind": "resolved"}
            try:
                await asyncio.wait_for(produce(self.t.kafka, topic, cid, value, auth=auth), 30)
                self.record(number, what, False, f"{topic}: the broker acknowledged the write")
            except Exception as exc:  # the broker's refusal (TopicAuthorizationFailed) or no ack at all
                self.record(number, what, True, f"{topic}: {type(exc).__name__}")
        # own topic, another unit named in the message: routing must refuse it from where it was written
        forged = {**envelope, "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1",
                  "assignment_id": wo["assignment_id"], "unit_code": OTHER_UNIT, "kind": "resolved"}
        await produce(self.t.kafka, topics.unit_feedback_topic(DEPT), cid, forged, auth=auth)

        def dead(records: list[Any]) -> str | None:
            for r in records:
                if forged["event_id"].encode() in (r.value or b""):
                    return dict((k, v.decode()) for k, v in r.headers).get("yima-dlq-error", "dead-lettered")
            return None

        try:
            why = await read_topic(self.t.kafka, "dlq.routing", dead, timeout=30, auth=self.t.auth(
                kafka_security.OPERATOR))
            self.record("1d", "a `resolved` on its own topic naming another unit (ends that unit's 督办)", True,
                        f"dead-lettered on dlq.routing: {why[:120]}")
        except TimeoutError:
            self.record("1d", "a `resolved` on its own topic naming another unit", False,
                        "not on dlq.routing within 30 s (accepted?)")
        # free text from a department's own (legitimate) progress answer: a link and a second line
        progress = {**envelope, "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1",
                    "assignment_id": wo["assignment_id"], "unit_code": DEPT, "kind": "accepted"}
        await produce(self.t.kafka, topics.unit_feedback_topic(DEPT), cid, progress, auth=auth)
        progress = {**progress, "event_id": str(uuid.uuid4()), "kind": "progress", "note": FORGED_TEXT}
        await produce(self.t.kafka, topics.unit_feedback_topic(DEPT), cid, progress, auth=auth)
        check = self.phone[-4:]

        async def shown() -> str | None:
            r = await self.track(self.case, check)
            text = r.text
            return text if r.status_code == 200 and "0371-12345678" in text else None

        text = await wait_until(shown, 30)
        if text is None:
            self.record("1f", "a department's note with a link and a second line reaches the tracking page", None,
                        "the progress step did not appear within 30 s")
        else:
            clean = free_of(text, EVIL, "\\n第二行")
            self.record("1f", "a department's note with a link and a second line reaches the tracking page", clean,
                        "the step is shown without the link and on one line" if clean
                        else f"on the tracking page: …{_around(text, '0371-12345678')}…")

    async def gateway_texts(self, phone: str) -> str:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(f"{self.t.gateway}/deliveries.json")
        return json.dumps([d for d in r.json().get("deliveries", r.json()) if phone in json.dumps(d)],
                          ensure_ascii=False) if r.status_code == 200 else ""

    async def join_url(self, dispatcher: Staff) -> None:
        """1e: a session's video link of another scheme or host."""
        phone = f"137{int(time.time()) % 10**8:08d}"
        case = await self.submit("410105001002", "我在工地干了三个月，包工头一直拖欠工资两万三千元不给，多次讨要无果",
                                 phone)
        async with client(self.t.url("mediation")) as med:
            async def in_queue() -> dict[str, Any] | None:
                items = (await med.get("/api/v1/queue", params={"state": "new"}, headers=dispatcher.h)).json()
                return next((i for i in items.get("items", []) if i["case_id"] == case["case_id"]), None)

            item = await wait_until(in_queue, 60)
            if item is None:
                self.record("1e", "join_url of any scheme", None, "the wage case did not reach JSQ-LDTJ's queue")
                return
            aid = item["assignment_id"]
            await med.post(f"/api/v1/cases/{aid}/accept", json={"kind": "people"}, headers=dispatcher.h)
            person = await med.post("/api/v1/people", headers=dispatcher.h,
                                    json={"kind": "mediator", "name": "马雷", "staff_id": "jsq-ldtj-02"})
            await med.post(f"/api/v1/cases/{aid}/mediators", headers=dispatcher.h,
                           json={"person_ids": [person.json().get("person_id", "none")]})
            start = _next_working_morning()
            when = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
            js = await med.post(f"/api/v1/cases/{aid}/sessions", headers=dispatcher.h,
                                json={"mode": "online", "join_url": "javascript:alert(1)", **when})
            evil = await med.post(f"/api/v1/cases/{aid}/sessions", headers=dispatcher.h,
                                  json={"mode": "online", "join_url": f"https://{EVIL}/pay", **when})

        async def session_shown() -> str | None:
            r = await self.track(case, phone[-4:])
            return r.text if r.status_code == 200 and '"sessions":[{' in r.text.replace(" ", "") else None

        page = await wait_until(session_shown, 30) or ""
        sms = await self.gateway_texts(phone)
        shown_or_refused = refused_statuses(evil.status_code) or bool(page)
        refused: bool | None = (js.status_code == 422 and free_of(page, EVIL, "javascript:")
                                and free_of(sms, EVIL)) if shown_or_refused else None
        self.record("1e", "join_url of another scheme (javascript:) or host (evil.example)", refused,
                    f"javascript: → {js.status_code}; https://{EVIL} → {evil.status_code} at mediation, "
                    f"on the tracking page: {'no' if free_of(page, EVIL) else 'YES'}"
                    f"{'' if page else ' (no session shown within 30 s)'}, in the applicant's texts: "
                    f"{'no' if free_of(sms, EVIL) else 'YES'}")

    async def escalation(self, street: Staff) -> None:
        """2 and 3: a street admin re-parents its own unit, then writes district-only things; another street's
        staff through another letter case."""
        async with client(self.t.url("routing")) as c:
            r = await c.put(f"/api/v1/admin/units/{STREET}", headers=street.h, json={
                "name": "丰产路街道", "kind": "street", "parent": None, "reason": "重放攻击：升为顶级"})
            refreshed = await c.post("/api/v1/auth/refresh", headers=street.h)
            h = {"Authorization": f"Bearer {refreshed.json()['access_token']}"} if refreshed.status_code == 200 \
                else street.h
            day = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
            cal = await c.put(f"/api/v1/admin/calendar/{day}", headers=h, json={"workday": True,
                                                                               "reason": "重放攻击"})
            rules = await c.put("/api/v1/admin/rules", headers=h, json={"rules": {}, "reason": "重放攻击"})
            self.record("2", "a street admin sets its own unit's parent to null, refreshes, writes district-only",
                        refused_statuses(r.status_code) and refused_statuses(cal.status_code)
                        and refused_statuses(rules.status_code),
                        f"PUT /admin/units/{STREET} parent=null → {r.status_code}; after refresh: calendar → "
                        f"{cal.status_code}, rules → {rules.status_code}")
            upper = FOREIGN_STAFF.upper()
            mv = await c.put(f"/api/v1/admin/staff/{upper}", headers=street.h, json={
                "name": "许勇志", "unit": STREET, "role": "mediator", "reason": "重放攻击：换大小写"})
            pw = await c.post(f"/api/v1/admin/staff/{upper}/password", headers=street.h,
                              json={"password": f"Take#{self.run_id}z2026"})
        self.record("3", f"PUT /admin/staff/{upper} (another unit's staff, other letter case) moves and re-passwords",
                    refused_statuses(mv.status_code) and refused_statuses(pw.status_code),
                    f"move → {mv.status_code}, new password → {pw.status_code}")

    async def seeded(self) -> None:
        """4: seeded passwords, the published dev key, production mode."""
        r = await self.login(RACE_ACCOUNT, DEMO_PASSWORD)
        answer = r.json()
        async with client(self.t.url("routing")) as c:
            h = {"Authorization": f"Bearer {answer.get('access_token', '')}"}
            q = await c.get(f"/api/v1/units/{OTHER_STREET}/queue", headers=h)
            same = await c.post("/api/v1/auth/password", headers=h, json={
                "current_password": DEMO_PASSWORD, "new_password": DEMO_PASSWORD})
        async with client(self.t.url("risk")) as c:
            w = await c.get("/api/v1/warnings", headers=h)
        self.record("4a", "a seeded account works with the published demo password",
                    bool(answer.get("must_change_password")) and q.status_code == 403 and w.status_code == 403,
                    f"login → {r.status_code} must_change_password={answer.get('must_change_password')}; "
                    f"routing queue → {q.status_code} {_code(q)}, risk warnings → {w.status_code}; "
                    f"the demo password as the new one → {same.status_code} {_code(same)}")
        forged = TokenIssuer.dev().issue(staff_id=DISTRICT_ADMIN, unit="410105", role=_admin_role(),
                                         unit_path=("410105",), mfa=True)
        async with client(self.t.url("routing")) as c:
            rules = await c.get("/api/v1/admin/rules", headers={"Authorization": f"Bearer {forged}"})
        async with client(self.t.url("risk")) as c:
            warn = await c.get("/api/v1/warnings", headers={"Authorization": f"Bearer {forged}"})
        self.record("4b", "a district admin's token signed with the repository's development key",
                    rules.status_code == 401 and warn.status_code == 401,
                    f"routing /admin/rules → {rules.status_code}, risk /warnings → {warn.status_code}")
        self.record("4c", "production mode starts on the development keys or a seeded password",
                    *production_refuses())
        self.record("4d", "the k8s and compose files leave production mode unset", *deployment_files_production(
            self.t.repo))

    async def races(self) -> None:
        """5: lockouts decided by one atomic increment; argon2 off the event loop; tracking throttled per client."""
        right = self.staff[RACE_ACCOUNT].password if RACE_ACCOUNT in self.staff else DEMO_PASSWORD
        attempts = [f"Wrong#{i}x2026" for i in range(29)] + [right]
        burst = await asyncio.gather(*(self.login(RACE_ACCOUNT, pw, source="127.0.0.3") for pw in attempts))
        after = await self.login(RACE_ACCOUNT, right, source="127.0.0.4")
        ok, ev = lockout_verdict([b.status_code for b in burst], after.status_code)
        self.record("5a", "29 wrong passwords and the right one in parallel", ok, ev)

        check = self.phone[-4:]
        wrong = f"{(int(check) + 1) % 10000:04d}"
        answers = await asyncio.gather(*(self.track(self.case, wrong if i < 19 else check, "127.0.0.5")
                                         for i in range(20)))
        ok, ev = throttle_verdict([a.status_code for a in answers])
        self.record("5b", "19 wrong tracking checks and the right one in parallel", ok, ev)
        mine = await self.track(self.case, check, "127.0.0.1")
        self.record("5c", "a stranger holding the code locks the applicant out", mine.status_code == 200,
                    f"the applicant from another address right after: {mine.status_code}")

        stalls: list[float] = []

        async def probe(stop: asyncio.Event) -> None:
            async with client(self.t.url("routing"), timeout=30) as c:
                while not stop.is_set():
                    t0 = time.monotonic()
                    await c.get("/api/v1/units", params={"code": STREET})
                    stalls.append(time.monotonic() - t0)
                    await asyncio.sleep(0.1)

        stop = asyncio.Event()
        prober = asyncio.create_task(probe(stop))
        await asyncio.sleep(0.3)
        await asyncio.gather(*(self.login(f"nobody-{i}", f"Wrong#{i}x2026", source="127.0.0.6") for i in range(30)))
        stop.set()
        await prober
        worst = max(stalls) if stalls else float("nan")
        self.record("5d", "30 logins at once stall the service (argon2 on the event loop)", worst < 1.0,
                    f"slowest of {len(stalls)} other requests during the logins: {worst:.2f} s")

    async def scope(self) -> None:
        """6: risk's staff API for a dispatcher of another street."""
        other = self.staff[OTHER_STREET_STAFF]
        async with client(self.t.url("risk")) as c:
            risk = await c.get(f"/api/v1/cases/{self.case['case_id']}/risk", headers=other.h)
            w = await c.get("/api/v1/warnings", params={"limit": 500}, headers=other.h)
        outside = [x for x in (w.json() if w.status_code == 200 else []) if not _within(x, OTHER_STREET)]
        self.record("6", "another street's staff reads a case's risk and the district's warnings",
                    risk.status_code == 404 and w.status_code == 200 and not outside,
                    f"risk of a case in {STREET} → {risk.status_code}; warnings → {w.status_code}, "
                    f"{len(outside)} of them outside {OTHER_STREET}")

    async def smaller(self, street: Staff) -> None:
        """7: outbox, audit flooding and the signed head, revocation, 3 MB bodies, webhook SSRF, staff text."""
        await self.outbox()
        analyst = self.staff[ANALYST]
        async with client(self.t.url("risk")) as c:
            async def records() -> int:
                return int((await c.get("/api/v1/audit/verify", headers=analyst.h)).json()["records"])

            n0 = await records()
            n1 = await records()
            for _ in range(20):
                await c.get(f"/api/v1/cases/{self.case['case_id']}/risk", headers={"Authorization": "Bearer x"})
                await c.get("/api/v1/warnings", headers={"Authorization": "Bearer x"})
            n2 = await records()
        self.record("7b", "40 requests with `Bearer x` append audit records", n2 - n1 <= n1 - n0,
                    f"risk's chain: {n1 - n0} record(s) per verify call, {n2 - n1} after the 40 requests")
        await self.audit_head()
        await self.revocation()
        self.record("7d", "3 MB body read in full before a size limit", *(await asyncio.to_thread(
            big_body, self.t.url("intake"))))
        async with client(self.t.url("notify")) as c:
            answers = {}
            for url in ("http://169.254.169.254/latest/meta-data/", "https://127.0.0.1/hook",
                        f"https://{EVIL}/hook", "https://localhost:8443/x"):
                r = await c.put(f"/api/v1/units/{STREET}/contacts", headers=street.h, json={"webhook_url": url})
                answers[url] = r.status_code
        self.record("7e", "a unit admin points its webhook anywhere (blind SSRF)",
                    all(refused_statuses(s) for s in answers.values()),
                    ", ".join(f"{u} → {s}" for u, s in answers.items()))
        await self.staff_text()

    async def outbox(self) -> None:
        from pymongo import AsyncMongoClient

        m: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.t.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            found: list[str] = []
            for service in SERVICE_PORTS:
                col = m[f"{self.t.db_prefix}yima_{service}"]["outbox"]
                async for doc in col.find({"published_at": {"$ne": None}}).limit(5000):
                    if self.phone in json.dumps(doc, default=str, ensure_ascii=False):
                        found.append(service)
                        break
            self.record("7a", "published outbox documents keep the applicant's personal data in clear", not found,
                        f"the applicant's phone in published outbox documents of: {found or 'none'}")
        finally:
            await m.close()

    async def audit_head(self) -> None:
        from pymongo import AsyncMongoClient

        m: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.t.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            head = await m[f"{self.t.db_prefix}yima_routing"]["audit_head"].find_one({"_id": "head"}) or {}
        finally:
            await m.close()
        self.record("7c", "the audit chain's head is not signed", bool(head.get("sig")),
                    f"routing's head at seq {head.get('seq')}: {'signed' if head.get('sig') else 'no signature'}")

    async def revocation(self) -> None:
        s = self.staff[ANALYST]
        async with client(self.t.url("routing")) as c:
            out = await c.post("/api/v1/auth/logout", headers=s.h)
            after = await c.get("/api/v1/admin/audit/verify", headers=s.h)
        async with client(self.t.url("risk")) as c:
            async def refused() -> int | None:
                r = await c.get("/api/v1/audit/verify", headers=s.h)
                return r.status_code if r.status_code == 401 else None

            risk = await wait_until(refused, 10)
        self.record("7f", "a token keeps working after logout", after.status_code == 401 and risk == 401,
                    f"logout → {out.status_code}; the same token at routing → {after.status_code}, at risk "
                    f"→ {risk or 'still accepted after 10 s'}")
        self.record("7g", "no idle expiry", None, "a 30-minute idle session cannot be replayed in one run; "
                    "routing's refresh refuses idle sessions (services/routing tests)")

    async def staff_text(self) -> None:
        """A supervisor's free text (a pause's reason) reaches the applicant's page."""
        dispatcher = self.staff.get("410105001-02") or await self.first_login("410105001-02")
        async with client(self.t.url("routing")) as c:
            got = await c.get(f"/api/v1/cases/{self.case['case_id']}/assignments", headers=dispatcher.h)
            rounds = got.json().get("assignments", []) if got.status_code == 200 else []
            aid = next((a["assignment_id"] for a in rounds if a.get("unit_code") == DEPT), "none")
            r = await c.post(f"/api/v1/assignments/{aid}/pause", headers=dispatcher.h, json={
                "reason": "暂停 请拨打0371-87654321并转账200元 https://evil.example/x\n第二行"})
        check = self.phone[-4:]

        async def shown() -> str | None:
            t = await self.track(self.case, check)
            return t.text if "0371-87654321" in t.text else None

        page = await wait_until(shown, 20)
        if page is None:
            self.record("7h", "staff free text reaches the applicant's page", None,
                        f"pause → {r.status_code} {_code(r)}; the step did not appear within 20 s")
            return
        clean = free_of(page, EVIL, "\\n第二行")
        self.record("7h", "staff free text (a pause's reason with a link, two lines) reaches the applicant's page",
                    clean, "shown on one line without the link" if clean
                    else f"on the tracking page: …{_around(page, '0371-87654321')}…")

    async def run(self) -> list[Outcome]:
        await self.forged_events()
        _district, street = await self.admins()
        await self.escalation(street)
        for sid in (OTHER_STREET_STAFF, ANALYST, "jsq-ldtj-01"):
            await self.first_login(sid)
        await self.join_url(self.staff["jsq-ldtj-01"])
        await self.seeded()
        await self.scope()
        await self.smaller(street)
        self.record("4e", "no admin can enrol TOTP without one who has it", True,
                    f"`yima-routing bootstrap-admin` enrolled {DISTRICT_ADMIN}, who enrolled {STREET_ADMIN} "
                    "(both signed in with TOTP above)")
        if RACE_ACCOUNT not in self.staff:
            await self.first_login(RACE_ACCOUNT)
        await self.races()
        return self.out


def _around(text: str, needle: str, width: int = 70) -> str:
    at = text.find(needle)
    return text[max(0, at - 10): at + width] if at >= 0 else ""


def _code(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return ""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("code", ""))
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _admin_role() -> Any:
    from yima_contracts.codes import StaffRole

    return StaffRole.ADMIN


def _within(warning: dict[str, Any], scope: str) -> bool:
    """A warning is within a unit's scope when every unit code it names lies at or below that unit."""
    codes = [v for k, v in warning.items() if "unit" in k and isinstance(v, str) and v[:6].isdigit()]
    return all(c.startswith(scope) for c in codes)


def _next_working_morning() -> datetime:
    """10:00 Beijing time on the next Tuesday–Thursday (a working day in any calendar year's plan)."""
    day = (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=1)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def production_refuses(timeout: float = 60) -> tuple[bool, str]:
    """Start routing's API in production mode on the development keys, then with keys but the seeded password;
    both must exit with a reason (no database is reachable: the check comes first)."""
    from yima_kit import keys

    generated = keys.generate()
    base = {**os.environ, "YIMA_ENVIRONMENT": "production", "YIMA_MONGO_URL": "mongodb://127.0.0.1:1/",
            "YIMA_SECRETS_DIR": "", "YIMA_AUTH_PUBLIC_KEYS": "", "YIMA_ROUTING_AUTH_PRIVATE_KEY": ""}
    cases = {
        "dev keys": base,
        "seeded password": {**base, "YIMA_SM4_KEY_HEX": generated["sm4_key_hex"],
                            "YIMA_AUTH_PUBLIC_KEYS": generated["auth_public_keys"],
                            "YIMA_ROUTING_AUTH_PRIVATE_KEY": generated["auth_private_key"],
                            "YIMA_ROUTING_AUTH_KID": generated["auth_kid"]},
    }
    said = []
    ok = True
    for name, env in cases.items():
        try:
            p = subprocess.run([sys.executable, "-m", "yima_routing", "api", "--port", str(free_port())], env=env,
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            ok = False
            said.append(f"{name}: still running after {timeout:.0f} s")
            continue
        said_by = re.findall(r"RuntimeError: (.*production.*)", p.stderr + p.stdout)
        reason = said_by[-1].strip() if said_by else ""
        ok = ok and p.returncode != 0 and bool(reason)
        said.append(f"{name}: exit {p.returncode} «{reason[-110:]}»")
    return ok, "; ".join(said)


def deployment_files_production(repo: Path) -> tuple[bool, str]:
    compose = (repo / "docker-compose.yml").read_text()
    k8s = "\n".join(p.read_text() for p in sorted((repo / "deploy" / "k8s").glob("*.yaml")))
    found = {"docker-compose.yml": "YIMA_ENVIRONMENT: production" in compose or "YIMA_ENVIRONMENT=production"
             in compose, "deploy/k8s": re.search(r"YIMA_ENVIRONMENT\W+(value:\s*)?\"?production", k8s) is not None}
    return all(found.values()), ", ".join(f"{k}: {'production' if v else 'NOT set'}" for k, v in found.items())


def big_body(intake: str, size: int = 3_000_000, timeout: float = 10) -> tuple[bool, str]:
    """Announce 3 MB, send 64 KB, and wait: a server that limits before reading answers 413 at once."""
    u = urlsplit(intake)
    s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=timeout)
    try:
        s.sendall((f"POST /api/v1/cases HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {size}\r\n\r\n").encode() + b"{" + b" " * 65536)
        t0 = time.monotonic()
        head = s.recv(200).decode(errors="replace")
        took = time.monotonic() - t0
    except TimeoutError:
        return False, f"no answer within {timeout:.0f} s after 64 KB of an announced {size} bytes (reading on)"
    finally:
        s.close()
    status = head.split(" ")[1] if head.startswith("HTTP/") else head[:40]
    return status == "413", f"answered {status} {took:.2f} s after 64 KB of an announced {size} bytes"


def local_target(state_dir: Path = Path(".local"), repo: Path = Path(".")) -> Target:
    """The URLs, credentials and database of ``./yima run`` (YIMA_REPLAY_<SERVICE>_URL etc. override)."""
    urls = {n: os.environ.get(f"YIMA_REPLAY_{n.upper()}_URL", f"http://127.0.0.1:{p}")
            for n, p in SERVICE_PORTS.items()}
    users = kafka_security.Credentials(state_dir / "infra" / "kafka" / "credentials.json").load()
    return Target(urls=urls, gateway=os.environ.get("YIMA_REPLAY_GATEWAY_URL", "http://127.0.0.1:8025"),
                  kafka=os.environ.get("YIMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"), kafka_users=dict(users),
                  mongo_url=os.environ.get("YIMA_MONGO_URL",
                                           "mongodb://127.0.0.1:27017/?directConnection=true"),
                  db_prefix=os.environ.get("YIMA_MONGO_DB_PREFIX", ""), repo=repo)


@app.command("attacks")
def attacks(
    state_dir: Annotated[Path, typer.Option(help="the state directory of ./yima run (Kafka credentials)")] = Path(
        ".local"),
) -> None:
    """Replay issue 14's attacks against the running platform (./yima run) and print one line per attack.
    Writes demo data (cases, staff passwords, TOTP): never against a real deployment. Exit 1 if any is not
    refused."""
    from ._aio import run_sync

    outcomes = run_sync(Replay(local_target(state_dir), accounts_file=state_dir / "replay-accounts.json").run())
    bad = [o for o in outcomes if o.refused is False]
    typer.echo(f"\n{len(outcomes)} attacks: {sum(o.refused is True for o in outcomes)} refused, {len(bad)} NOT "
               f"refused, {sum(o.refused is None for o in outcomes)} not replayed")
    if bad:
        raise typer.Exit(1)
