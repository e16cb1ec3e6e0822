"""The replay itself: each of issue 14's attacks against a running platform, from outside (``yima-dev attacks``),
in the issue's numbering."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from yima_contracts import topics
from yima_kit.auth import TokenIssuer

from .. import kafka_security
from ..kafka_tools import produce, read_topic
from ..services import SERVICE_PORTS
from .judge import (
    Outcome,
    admin_role,
    around,
    big_body,
    deployment_files_production,
    error_code,
    free_of,
    lockout_verdict,
    next_working_morning,
    production_refuses,
    refused_statuses,
    throttle_verdict,
    within,
)
from .session import (
    ANALYST,
    DEMO_PASSWORD,
    DEPT,
    DISTRICT_ADMIN,
    EVIL,
    FOREIGN_STAFF,
    FORGED_TEXT,
    OTHER_STREET,
    OTHER_STREET_STAFF,
    OTHER_UNIT,
    RACE_ACCOUNT,
    STREET,
    STREET_ADMIN,
    Session,
    Staff,
    client,
    wait_until,
)


class Replay(Session):
    async def forged_events(self) -> None:
        """1a–1c: what a department's principal can write (the broker's ACLs)."""
        auth = self.t.auth(kafka_security.department_principal(DEPT))
        self.phone = f"139{int(time.time()) % 10**8:08d}"
        self.case = await self.submit(DEPT, "楼上邻居家漏水把我家天花板泡坏了，找他好几次都不管", self.phone)
        cid = self.case["case_id"]

        def order(records: list[Any]) -> dict[str, Any] | None:
            mine = [json.loads(r.value) for r in records if r.key == cid.encode()]
            return mine[0] if mine else None

        self.order = await read_topic(self.t.kafka, topics.unit_topic(DEPT), order, timeout=60, auth=auth)
        self.envelope = {"case_id": cid, "occurred_at": datetime.now(UTC).isoformat(),
                         "correlation_id": self.order.get("correlation_id", cid),
                         "actor": {"kind": "unit_system", "unit_code": DEPT}}
        status = {**self.envelope, "event_id": str(uuid.uuid4()), "event_type": "case.status.v1", "state": "closed",
                  "title_zh": "案件已办结", "acting_unit_name": "金水区人民法院", "next_step_zh": FORGED_TEXT}
        for number, topic, what in (
            ("1a", topics.CASE_STATUS, "a department writes case.status (a forged 案件已办结 with a payment request)"),
            ("1b", topics.CASE_FEEDBACK, "a department writes the shared case.feedback (deprecated)"),
            ("1c", topics.unit_feedback_topic(OTHER_UNIT), "a department writes another unit's feedback topic"),
        ):
            value = status if topic == topics.CASE_STATUS else self.answer("resolved", OTHER_UNIT)
            try:
                await asyncio.wait_for(produce(self.t.kafka, topic, cid, value, auth=auth), 30)
                self.record(number, what, False, f"{topic}: the broker acknowledged the write")
            except Exception as exc:  # the broker's refusal (TopicAuthorizationFailed) or no ack at all
                self.record(number, what, True, f"{topic}: {type(exc).__name__}")

    def answer(self, kind: str, unit_code: str = DEPT, **extra: Any) -> dict[str, Any]:
        """A ``case.feedback.v1`` answer to the department's work order."""
        return {**self.envelope, "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1",
                "assignment_id": self.order["assignment_id"], "unit_code": unit_code, "kind": kind, **extra}

    async def foreign_answer(self) -> None:
        """1d: on its own topic, naming another unit: routing refuses it from where it was written."""
        forged = self.answer("resolved", OTHER_UNIT)
        await produce(self.t.kafka, topics.unit_feedback_topic(DEPT), self.case["case_id"], forged,
                      auth=self.t.auth(kafka_security.department_principal(DEPT)))

        def dead(records: list[Any]) -> str | None:
            for r in records:
                if forged["event_id"].encode() in (r.value or b""):
                    return dict((k, v.decode()) for k, v in r.headers).get("yima-dlq-error", "dead-lettered")
            return None

        what = "a `resolved` on its own topic naming another unit (ends that unit's 督办)"
        try:
            why = await read_topic(self.t.kafka, "dlq.routing", dead, timeout=30,
                                   auth=self.t.auth(kafka_security.OPERATOR))
            self.record("1d", what, True, f"dead-lettered on dlq.routing: {why[:120]}")
        except TimeoutError:
            self.record("1d", what, False, "not on dlq.routing within 30 s (accepted?)")

    async def department_note(self) -> None:
        """1f: a department's own (legitimate) progress answer with a link and a second line."""
        auth = self.t.auth(kafka_security.department_principal(DEPT))
        for answer in (self.answer("accepted"), self.answer("progress", note=FORGED_TEXT)):
            await produce(self.t.kafka, topics.unit_feedback_topic(DEPT), self.case["case_id"], answer, auth=auth)
        check = self.phone[-4:]

        async def shown() -> str | None:
            r = await self.track(self.case, check)
            return r.text if r.status_code == 200 and "0371-12345678" in r.text else None

        text = await wait_until(shown, 30)
        what = "a department's note with a link and a second line reaches the tracking page"
        if text is None:
            self.record("1f", what, None, "the progress step did not appear within 30 s")
            return
        clean = free_of(text, EVIL, "\\n第二行")
        self.record("1f", what, clean, "the step is shown without the link and on one line" if clean
                    else f"on the tracking page: …{around(text, '0371-12345678')}…")

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
            start = next_working_morning()
            when = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
            js = await med.post(f"/api/v1/cases/{aid}/sessions", headers=dispatcher.h,
                                json={"mode": "online", "join_url": "javascript:alert(1)", **when})
            evil = await med.post(f"/api/v1/cases/{aid}/sessions", headers=dispatcher.h,
                                  json={"mode": "online", "join_url": f"https://{EVIL}/pay", **when})
            if evil.status_code != 201:  # refused: a session with the platform's own link, for the page to show
                await med.post(f"/api/v1/cases/{aid}/sessions", headers=dispatcher.h, json={"mode": "online", **when})

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
                    f"routing queue → {q.status_code} {error_code(q)}, risk warnings → {w.status_code}; "
                    f"the demo password as the new one → {same.status_code} {error_code(same)}")
        forged = TokenIssuer.dev().issue(staff_id=DISTRICT_ADMIN, unit="410105", role=admin_role(),
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
        outside = [x for x in (w.json() if w.status_code == 200 else []) if not within(x, OTHER_STREET)]
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
        per_verify = n1 - n0  # asking for the verification is itself on record
        self.record("7b", "40 requests with `Bearer x` append audit records", n2 - n1 <= per_verify,
                    f"risk's chain grew by {n2 - n1 - per_verify} record(s) from the 40 requests "
                    f"({n0} → {n2}, the verify calls' own {per_verify} each not counted)")
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
                        f"pause → {r.status_code} {error_code(r)}; the step did not appear within 20 s")
            return
        clean = free_of(page, EVIL, "\\n第二行")
        self.record("7h", "staff free text (a pause's reason with a link, two lines) reaches the applicant's page",
                    clean, "shown on one line without the link" if clean
                    else f"on the tracking page: …{around(page, '0371-87654321')}…")

    async def run(self) -> list[Outcome]:
        await self.forged_events()
        await self.foreign_answer()
        await self.department_note()
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
