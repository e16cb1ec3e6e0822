"""The console's own logic behind the role pages, with the services' APIs answered by small in-process
handlers (the pages against the real services run in tests/e2e/test_console_roles_browser.py): sign-in and the
forced password change, the role navigation, the supervision list's filters, paging and ETag refresh, the
actions' reasons and CSRF, the analyst's table, and what a page says when a service is down or refuses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from yima_console.app import create_app
from yima_console.config import ConsoleSettings
from yima_console.ui import COOKIE, csrf_of
from yima_contracts.codes import StaffRole
from yima_kit.auth import TokenIssuer

STREET = "410105001"
NOW = datetime.now(UTC)


SID = "5e551011d0000000000000000000cafe"


def token(role: StaffRole = StaffRole.DISPATCHER, unit: str = STREET, sub: str = "410105001-02",
          pwc: bool = False, age: timedelta = timedelta(0)) -> str:
    return TokenIssuer.dev().issue(staff_id=sub, unit=unit, role=role, unit_path=("410105", unit), name="薛涛",
                                   sid=SID, pwc=pwc, now=datetime.now(UTC) - age)


def item(n: int, **kw: Any) -> dict[str, Any]:
    due = NOW + timedelta(days=n - 3)
    base = {"assignment_id": f"a-{n}", "case_id": f"c-{n}", "case_number": f"JSQ-2026-{n:06d}",
            "unit_code": "410105001001" if n % 2 else "410105001002", "supervisor_unit_code": STREET,
            "category": "neighbour" if n % 3 else "labour_wages", "risk_level": ("red", "yellow", "blue")[n % 3],
            "state": "assigned", "new": n % 4 == 0, "overdue": due <= NOW, "paused": False,
            "due_at": due.isoformat(), "assigned_at": (NOW - timedelta(days=n)).isoformat(), "round": 1,
            "supervision_done": ["warning", "notice"] if due <= NOW else [], "due_provisional": False,
            "pause_reason": None, "working_days_left": n - 3, "urged": 0}
    return base | kw


class Services:
    """What routing, risk, notify and insight answer, and what they were asked."""

    def __init__(self) -> None:
        self.items = [item(n) for n in range(1, 71)]
        self.calls: list[tuple[str, str, str, Any]] = []
        self.must_change = False
        self.ended = False  # the session was ended at routing (logout elsewhere, deactivation)
        self.insight: Any = None
        self.joints = [{"joint_id": "j-1", "case_id": "c-9", "case_number": "JSQ-2026-000009", "lead": False,
                        "lead_unit_code": "410105001001", "reason": "需街道协调物业", "at": NOW.isoformat(),
                        "report_by": (NOW + timedelta(days=1)).isoformat(),
                        "units": {STREET: {"reported_at": None, "note": None}}}]

    def handler(self, service: str):
        def handle(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content) if request.content else None
            self.calls.append((service, request.method, request.url.path, body))
            auth = request.headers.get("authorization", "")
            path = request.url.path
            if service == "routing" and path == "/api/v1/auth/login":
                ok = body["password"] in ("Yima#Demo2026", "Xinmima#2026")
                if not ok:
                    return httpx.Response(401, json={"message": "用户名或密码错误", "errors": []})
                return httpx.Response(200, json={"access_token": token(pwc=self.must_change),
                                                 "must_change_password": self.must_change})
            if service == "routing" and path == "/api/v1/units":
                return httpx.Response(200, json={"units": [
                    {"code": STREET, "name": "丰产路街道"}, {"code": "410105001001", "name": "黄河社区",
                                                           "parent": STREET},
                    {"code": "410105001002", "name": "农业路社区", "parent": STREET}]})
            if not auth.startswith("Bearer ") or self.ended:
                return httpx.Response(401, json={"message": "登录已失效（已退出、密码已修改或账号已停用），请重新登录",
                                                 "errors": [{"field": "", "code": "session_revoked"}]})
            if service == "routing" and path == "/api/v1/auth/refresh":  # the same session, a fresh token
                return httpx.Response(200, json={"access_token": token(pwc=self.must_change)})
            if service == "routing" and path == "/api/v1/auth/logout":
                self.ended = True
                return httpx.Response(200, json={"logged_out": True})
            if self.must_change and path != "/api/v1/auth/password":
                return httpx.Response(403, json={"message": "请先修改初始密码", "errors": [
                    {"field": "", "code": "password_change_required", "message": "请先修改初始密码"}]})
            if service == "routing" and path == f"/api/v1/units/{STREET}/queue":
                return httpx.Response(200, json={"items": self.items, "awaiting_redispatch": []})
            if service == "routing" and path.endswith("/urge"):
                return httpx.Response(200, json={"urged": True})
            if service == "routing" and path == "/api/v1/auth/password":
                if set(body) != {"current_password", "new_password"}:
                    return httpx.Response(422, json={"message": "提交的内容有误，请按提示修改", "errors": [
                        {"field": k, "code": "extra_forbidden", "message": "取值不正确"} for k in body]})
                if body["current_password"] != "Yima#Demo2026":
                    return httpx.Response(401, json={"message": "原密码错误", "errors": [
                        {"field": "current_password", "code": "invalid_credentials", "message": "原密码错误"}]})
                self.must_change = False  # routing ends the old sessions and answers with a new one's token
                return httpx.Response(200, json={"changed": True, "access_token": token(),
                                                 "must_change_password": False})
            if service == "intake" and path == "/api/v1/cases":
                if not body["applicant"]["phone"].startswith("1"):
                    return httpx.Response(422, json={"message": "提交的内容有误，请按提示修改", "errors": [
                        {"field": "applicant.phone", "code": "invalid_phone", "message": "手机号格式不正确"}]})
                return httpx.Response(201, json={"case_id": "c-new", "case_number": "JSQ-2026-000777",
                                                 "tracking_code": "ABCD-EFGH-JKLM", "state": "submitted"})
            if service == "routing" and path == f"/api/v1/units/{STREET}/joint":
                return httpx.Response(200, json={"joint": self.joints})
            if service == "routing" and path.startswith("/api/v1/joint/") and path.endswith("/report"):
                self.joints[0]["units"][STREET] = {"reported_at": NOW.isoformat(), "note": body["note"]}
                return httpx.Response(200, json={"waiting_for": []})
            if service == "routing" and path == "/api/v1/admin/staff/410105001001-01/totp":
                return httpx.Response(200, json={"otpauth_uri": "otpauth://totp/yima:410105001001-01?secret=ABC"})
            if service == "notify" and path == "/api/v1/failures":
                return httpx.Response(200, json={"failures": [
                    {"notification_id": "n-1", "case_number": "JSQ-2026-000009", "channel": "webhook",
                     "recipient_kind": "unit", "attempts": 5, "error": "HTTP 503", "failed_at": NOW.isoformat(),
                     "fallback": None}]})
            if service == "notify" and path == f"/api/v1/units/{STREET}/contacts":
                return httpx.Response(200, json=body)
            if service == "notify":
                return httpx.Response(200, json={"messages": []})
            if service == "insight" and self.insight is not None:
                return httpx.Response(200, json=self.insight)
            return httpx.Response(404, json={"message": "未找到"})
        return handle


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def console(services: Services):
    settings = ConsoleSettings(insight_public_url="https://insight.example")
    app = create_app(settings, transports={s: httpx.MockTransport(services.handler(s))
                                           for s in ("routing", "risk", "notify", "insight", "intake", "mediation")})
    return app


def browser(app, tok: str | None = None) -> httpx.AsyncClient:
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
    if tok:
        c.cookies.set(COOKIE, tok, domain="console.test", path="/console")
    return c


async def test_sign_in_goes_home_by_role_and_a_first_sign_in_to_the_password_page(console, services) -> None:
    async with browser(console) as b:
        r = await b.post("/console/login", data={"username": "410105001-02", "password": "wrong"})
        assert r.status_code == 401 and "用户名或密码错误" in r.text
        r = await b.post("/console/login", data={"username": "410105001-02", "password": "Yima#Demo2026"})
        assert r.status_code == 303 and r.headers["location"] == "/console/dispatch"
        assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
        services.must_change = True
        r = await b.post("/console/login", data={"username": "410105001-02", "password": "Yima#Demo2026"})
        assert r.headers["location"] == "/console/password?forced=1"
        # the token carries routing's "must change" mark: every page but the password page leads there
        r = await b.get("/console/supervise")
        assert r.status_code == 303 and r.headers["location"] == "/console/password?forced=1"
        r = await b.get("/console/password?forced=1")
        assert r.status_code == 200 and 'id="current"' in r.text and "请先修改密码" in r.text
        assert 'id="nav-supervise"' not in r.text and 'id="logout"' in r.text  # nothing else opens yet
        assert not [c for c in services.calls if c[2].endswith("/queue")]  # nothing asked with that token
    async with browser(console, token()) as b:  # and a page a service refuses until then leads there too
        r = await b.get("/console/supervise")
        assert r.status_code == 303 and r.headers["location"] == "/console/password?forced=1"


async def test_changing_the_password_goes_on_in_routings_new_session(console, services) -> None:
    services.must_change = True
    tok = token(pwc=True)
    async with browser(console, tok) as b:
        form = {"csrf": csrf_of(tok), "current_password": "Yima#Demo2026", "new_password": "Xinmima#2026",
                "again": "Xinmima#2026"}
        r = await b.post("/console/password", data={**form, "again": "different"})
        assert r.status_code == 422 and "两次输入的新密码不一致" in r.text and "请先修改密码" in r.text
        r = await b.post("/console/password", data={**form, "csrf": "forged"})
        assert r.status_code == 403
        assert not [c for c in services.calls if c[2] == "/api/v1/auth/password"]
        r = await b.post("/console/password", data={**form, "current_password": "wrong"})
        assert r.status_code == 401 and "原密码错误" in r.text and b.cookies[COOKIE] == tok  # still signed in
        r = await b.post("/console/password", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/console/dispatch?ok=password"
        sent = [c[3] for c in services.calls if c[2] == "/api/v1/auth/password"]
        assert sent[-1] == {"current_password": "Yima#Demo2026", "new_password": "Xinmima#2026"}
        assert not [c for c in services.calls if c[2] == "/api/v1/auth/login"]  # routing's answer is the session
        fresh = b.cookies[COOKIE]  # the new session's token, a fresh CSRF token
        assert fresh != tok
        r = await b.get("/console/supervise")
        assert r.status_code == 200 and 'id="overdue-count"' in r.text


async def test_signing_out_ends_the_session_at_routing_and_an_ended_session_signs_in_again(console,
                                                                                          services) -> None:
    tok = token()
    async with browser(console, tok) as b:
        r = await b.post("/console/logout", data={"csrf": csrf_of(tok)})
        assert r.status_code == 303 and r.headers["location"] == "/console/login?why=out"
        assert [c[2] for c in services.calls if c[2].startswith("/api/v1/auth/")] == ["/api/v1/auth/logout"]
    async with browser(console, tok) as b:  # the token is still in its lifetime, but routing ended its session
        r = await b.get("/console/supervise")
        assert r.status_code == 303 and r.headers["location"] == "/console/login?why=ended"
        assert 'yima_console=""' in r.headers["set-cookie"]
        r = await b.get("/console/login?why=ended")
        assert "登录已失效" in r.text


async def test_a_session_in_use_is_refreshed_and_an_idle_one_ends(console, services) -> None:
    def refreshes() -> int:
        return len([c for c in services.calls if c[2] == "/api/v1/auth/refresh"])

    old = token(age=timedelta(minutes=10))  # past the refresh point (5 minutes), within its 30
    async with browser(console, old) as b:
        r = await b.get("/console/supervise")
        assert r.status_code == 200 and refreshes() == 1
        new = b.cookies[COOKIE]
        assert new != old and "HttpOnly" in r.headers["set-cookie"]
        # the session's CSRF token stays: a form rendered before the refresh still posts after it
        assert f'value="{csrf_of(old)}"' in r.text and csrf_of(new) == csrf_of(old)
        r = await b.post("/console/supervise/act", data={"csrf": csrf_of(old), "do": "urge", "assignment_id": "a-1",
                                                        "reason": "请尽快联系申请人"})
        assert r.status_code == 303 and refreshes() == 1  # the fresh token is not refreshed again
        await b.get("/console/supervise/rows")  # the list's own background refresh is not the person's activity
        assert refreshes() == 1
    async with browser(console, token(age=timedelta(minutes=10))) as b:
        await b.get("/console/supervise/rows")
        assert refreshes() == 1
    services.ended = True  # idle longer than routing allows (or revoked): the refresh is refused
    async with browser(console, token(age=timedelta(minutes=10))) as b:
        r = await b.get("/console/supervise")
        assert r.status_code == 303 and r.headers["location"] == "/console/login?why=expired"


async def test_each_role_sees_its_own_navigation_and_is_refused_elsewhere(console) -> None:
    async with browser(console, token(StaffRole.ANALYST, "410105", "410105-06")) as b:
        r = await b.get("/console/analyst")
        assert r.status_code == 200 and 'id="nav-analyst"' in r.text
        assert 'id="nav-supervise"' not in r.text and 'id="nav-admin"' not in r.text
        r = await b.get("/console/supervise")
        assert r.status_code == 403 and "当前岗位无权进行此操作" in r.text
        r = await b.get("/console/admin")
        assert r.status_code == 403
    async with browser(console, token(StaffRole.GRID_WORKER, "410105001001", "wg-1")) as b:
        r = await b.get("/console/walkin")  # a grid worker's phone: report a dispute from the street
        assert r.status_code == 200 and "网格上报" in r.text and 'value="grid"' in r.text
        assert 'value="reception"' not in r.text and 'id="nav-dispatch"' not in r.text
        assert (await b.get("/console/dispatch")).status_code == 403
    async with browser(console) as anonymous:
        r = await anonymous.get("/console/supervise")
        assert r.status_code == 303 and r.headers["location"] == "/console/login?why=none"


async def test_the_supervision_list_filters_sorts_pages_and_marks_overdue(console, services) -> None:
    async with browser(console, token()) as b:
        r = await b.get("/console/supervise")
        assert r.status_code == 200
        rows = re.findall(r'<tr id="row-(a-\d+)" class="([^"]*)"', r.text)
        assert len(rows) == 30  # a page
        assert [a for a, _ in rows[:3]] == ["a-1", "a-2", "a-3"]  # the earliest deadline first
        assert dict(rows)["a-1"] == "overdue" and dict(rows)["a-5"] == ""
        assert "逾期2个工作日" in r.text and "剩2个工作日" in r.text and "督办、" not in r.text
        assert 'id="overdue-count">3<' in r.text and re.search(r'href="\?[^"]*page=3"', r.text)

        r = await b.get("/console/supervise", params={"only": "overdue", "level": "red"})
        assert re.findall(r'<tr id="row-(a-\d+)"', r.text) == ["a-3"]
        r = await b.get("/console/supervise", params={"handler": "410105001002", "sort": "due", "desc": "1",
                                                      "page": "2"})
        ids = [int(x) for x in re.findall(r'<tr id="row-a-(\d+)"', r.text)]
        assert ids == sorted(ids, reverse=True) and all(i % 2 == 0 for i in ids) and len(ids) == 5


async def test_the_list_refreshes_by_etag_and_changes_show_without_a_reload(console, services) -> None:
    async with browser(console, token()) as b:
        page = await b.get("/console/supervise", params={"only": "overdue"})
        etag = re.search(r'data-etag="([^"]+)"', page.text).group(1).replace("&quot;", '"')
        assert 'setInterval(poll,15000)' in page.text
        same = await b.get("/console/supervise/rows", params={"only": "overdue"}, headers={"If-None-Match": etag})
        assert same.status_code == 304 and same.content == b""
        services.items[4] = item(5, due_at=(NOW - timedelta(hours=1)).isoformat(), overdue=True,
                                 working_days_left=0)
        changed = await b.get("/console/supervise/rows", params={"only": "overdue"},
                              headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        assert 'id="row-a-5" class="overdue"' in changed.text and "<html" not in changed.text


async def test_an_urge_needs_a_reason_and_the_sessions_csrf_token(console, services) -> None:
    tok = token()
    async with browser(console, tok) as b:
        back = "?only=overdue"
        r = await b.post("/console/supervise/act", data={"csrf": csrf_of(tok), "assignment_id": "a-1", "do": "urge",
                                                         "reason": "", "back": back})
        assert r.status_code == 422 and "催办：请填写理由" in r.text
        assert re.findall(r'<tr id="row-(a-\d+)"', r.text) == ["a-1", "a-2", "a-3"]  # the view it came from
        r = await b.post("/console/supervise/act", data={"csrf": "x", "assignment_id": "a-1", "do": "urge",
                                                         "reason": "请尽快办理"})
        assert r.status_code == 403 and "页面已失效" in r.text
        assert not [c for c in services.calls if c[2].endswith("/urge")]
        r = await b.post("/console/supervise/act", data={"csrf": csrf_of(tok), "assignment_id": "a-1", "do": "urge",
                                                         "reason": "请尽快办理", "back": back})
        assert r.headers["location"] == "/console/supervise?only=overdue&ok=urge"
        assert ("routing", "POST", "/api/v1/assignments/a-1/urge", {"reason": "请尽快办理"}) in services.calls
        page = await b.get(r.headers["location"])
        assert "已发出催办" in page.text


async def test_the_analyst_reads_insights_table_or_is_told_it_is_not_there(console, services) -> None:
    tok = token(StaffRole.ANALYST, "410105", "410105-06")
    async with browser(console, tok) as b:
        r = await b.get("/console/analyst")
        assert r.status_code == 200 and "考核分析服务" in r.text and 'href="https://insight.example/"' in r.text
        services.insight = {"title_zh": "金水区一张表", "columns": [{"key": "unit", "title_zh": "单位"},
                                                                 {"key": "overdue", "title_zh": "逾期件数"}],
                            "rows": [{"unit": "丰产路街道", "overdue": 3}, {"unit": "<b>花园路街道</b>", "overdue": 0}]}
        r = await b.get("/console/analyst")
        table = re.search(r'<table id="insight-table">(.*?)</table>', r.text, re.S).group(1)
        assert "<th>单位</th><th>逾期件数</th>" in table and "<td>丰产路街道</td><td>3</td>" in table
        assert "&lt;b&gt;花园路街道" in table  # escaped, as everything a service says
        # insight's own shape: rows of figures with nested satisfaction, and the totals
        services.insight = {"from": "2026-11-07", "to": "2026-12-06", "unit_name": "金水区", "rows": [
            {"key": STREET, "name": "丰产路街道", "received": 12, "overdue": 2, "satisfaction": {"avg": 4.5}}],
            "totals": {"received": 12, "overdue": 2, "satisfaction": {"avg": 4.5}}}
        r = await b.get("/console/analyst")
        table = re.search(r'<table id="insight-table">(.*?)</table>', r.text, re.S).group(1)
        assert "<th>单位</th><th>受理</th>" in table and "<td>丰产路街道</td><td>12</td>" in table
        assert "<th>合计</th><th>12</th>" in table and "<td>4.5</td>" in table and "金水区 2026-11-07" in r.text


async def test_a_walk_in_or_proxy_case_goes_through_intakes_staff_channel(console, services) -> None:
    tok = token()
    form = {"csrf": csrf_of(tok), "channel": "proxy", "name": "王秀英", "phone": "0371-1234", "category": "",
            "description": "老人的养老金被儿子占用，社区工作人员代为申请调解", "submitter_name": "李社工",
            "submitter_phone": "13800001111", "relation": "社区工作人员", "consent": "in_person"}
    async with browser(console, tok) as b:
        r = await b.post("/console/walkin", data=form)
        assert r.status_code == 422 and "手机号格式不正确" in r.text and 'value="王秀英"' in r.text  # kept
        r = await b.post("/console/walkin", data={**form, "phone": "13912345678"})
        assert r.status_code == 200 and "JSQ-2026-000777" in r.text and "ABCD-EFGH-JKLM" in r.text
    sent = [c[3] for c in services.calls if c[0] == "intake"][-1]
    assert sent["channel"] == "proxy" and "category" not in sent  # left to the smart classification
    assert sent["proxy"] == {"submitter": {"name": "李社工", "phone": "13800001111"}, "relation": "社区工作人员",
                             "consent": "in_person"}


async def test_a_summoned_unit_sees_the_summons_and_reports_in(console, services) -> None:
    tok = token()
    async with browser(console, tok) as b:
        page = await b.get("/console/joint")
        assert "需街道协调物业" in page.text and 'id="report-j-1"' in page.text and "黄河社区" in page.text
        r = await b.post("/console/joint/j-1/report", data={"csrf": csrf_of(tok), "note": ""})
        assert r.status_code == 422 and "请填写报到情况" in r.text
        r = await b.post("/console/joint/j-1/report", data={"csrf": csrf_of(tok), "note": "已派城管中队到场"})
        assert r.status_code == 303
        page = await b.get(r.headers["location"])
        assert "已报到" in page.text and "已派城管中队到场" in page.text and 'id="report-j-1"' not in page.text


async def test_admin_pages_totp_contacts_and_failed_deliveries(console, services) -> None:
    tok = TokenIssuer.dev().issue(staff_id="410105001-01", unit=STREET, role=StaffRole.ADMIN,
                                  unit_path=("410105", STREET), mfa=True)
    async with browser(console, tok) as b:
        r = await b.post("/console/admin/staff/totp", data={"csrf": csrf_of(tok), "staff_id": "410105001001-01"})
        assert r.status_code == 200 and "otpauth://totp/yima:410105001001-01?secret=ABC" in r.text
        assert r.headers["cache-control"] == "no-store"
        r = await b.post("/console/admin/contacts", data={"csrf": csrf_of(tok), "webhook_url": "https://sys.example/h",
                                                          "email": "", "wechat_openid": ""})
        assert r.status_code == 303 and r.headers["location"] == "/console/admin?tab=contacts&ok=contacts"
        assert ("notify", "PUT", f"/api/v1/units/{STREET}/contacts",
                {"webhook_url": "https://sys.example/h", "email": None, "wechat_openid": None}) in services.calls
        page = await b.get("/console/admin", params={"tab": "failures"})
        assert "JSQ-2026-000009" in page.text and "HTTP 503" in page.text
        assert "管理操作须用动态口令登录" not in page.text  # signed in with the second factor
