"""The mediation pages of the staff console (/console) driven through their forms: the console app calls the
real mediation app (in this process, against the real MongoDB-protocol server) over HTTP with the staff
member's token; sign-in against a small local HTTP server standing in for routing's login, the inbox
against one standing in for notify. (Moved from mediation's own console tests, docs/adr/0085.)"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
import pytest
from yima_console.app import create_app as create_console
from yima_console.config import ConsoleSettings
from yima_console.ui import COOKIE, csrf_of
from yima_contracts import Location, Party, UnitCaseAssigned
from yima_contracts.codes import Category, Channel, RiskLevel, StaffRole
from yima_devstack.infra import free_port
from yima_kit.auth import TokenIssuer
from yima_mediation.app import create_app
from yima_mediation.config import MediationSettings
from yima_mediation.core.schedule import SHANGHAI, is_workday

pytestmark = pytest.mark.integration

UNIT = "JSQ-LDTJ"
OTHER = "JSQ-WYTJ"
HOST = "mediation.test"
PASSWORD = "Yima#Demo2026"
SURE = {"sure": "1"}  # the tick that irreversible steps ask for


def issue(role: StaffRole = StaffRole.DISPATCHER, unit: str = UNIT, sub: str = "s-1",
          ttl: timedelta = timedelta(minutes=30), now: datetime | None = None) -> str:
    return TokenIssuer.dev().issue(staff_id=sub, unit=unit, role=role, unit_path=("410105", unit), name="王受理",
                                   ttl=ttl, now=now)


class _FakeRouting(BaseHTTPRequestHandler):
    """routing's POST /api/v1/auth/login, as far as the console needs it."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/v1/auth/login" and body == {"username": "jsq-ldtj-01", "password": PASSWORD}:
            status, answer = 200, {"access_token": issue(), "token_type": "bearer", "expires_in": 1800}
        else:
            status, answer = 401, {"message": "用户名或密码错误", "errors": []}
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def routing() -> Iterator[str]:
    yield from _serve(_FakeRouting)


class _FakeNotify(BaseHTTPRequestHandler):
    """notify's unit inbox (GET /api/v1/inbox/unit, POST …/{id}/read) as far as the console needs it: it checks
    the bearer token with the platform's verifier and answers the token's unit only, as notify does."""

    inboxes: ClassVar[dict[str, list[dict]]] = {}
    seen: ClassVar[list[tuple[str, str, str]]] = []  # (method, path, Authorization header)

    def _claims(self):
        from yima_kit.auth import AuthError, TokenVerifier

        auth = self.headers.get("Authorization", "")
        try:
            return TokenVerifier.from_setting("").verify(auth.removeprefix("Bearer ")) if auth.startswith(
                "Bearer ") else None
        except AuthError:
            return None

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("Authorization", "")))
        url = urlsplit(self.path)
        claims = self._claims()
        if claims is None:
            return self._answer(401, {"message": "请先登录", "errors": []})
        unread = parse_qs(url.query).get("unread", ["false"])[0]
        if url.path != "/api/v1/inbox/unit" or unread not in ("true", "false"):
            return self._answer(404, {"message": "not found", "errors": []})
        items = [m for m in self.inboxes.get(claims.unit, []) if unread == "false" or m["read_at"] is None]
        self._answer(200, {"unit_code": claims.unit, "messages": items})

    def do_POST(self) -> None:
        self.seen.append(("POST", self.path, self.headers.get("Authorization", "")))
        claims = self._claims()
        if claims is None:
            return self._answer(401, {"message": "请先登录", "errors": []})
        m = re.fullmatch(r"/api/v1/inbox/unit/(.+)/read", self.path)
        nid = unquote(m.group(1)) if m else ""
        for msg in self.inboxes.get(claims.unit, []):
            if msg["notification_id"] == nid:
                msg["read_at"] = datetime.now(UTC).isoformat()
                return self._answer(200, {"notification_id": nid, "read": True})
        self._answer(404, {"message": "本单位没有这条消息", "errors": []})

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def notify() -> Iterator[str]:
    yield from _serve(_FakeNotify)


async def _app(yima_infra, routing: str, notify_url: str):
    """The mediation app, with the console app that calls it (``app.state.console``) in front."""
    settings = MediationSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                                 mongo_db_prefix=f"c{uuid.uuid4().hex[:8]}_", prefetch_font=False)
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        app.state.console = create_console(
            ConsoleSettings(routing_url=routing, notify_url=notify_url, mediation_url="http://mediation.internal",
                            api_timeout_seconds=5),
            transports={"mediation": httpx.ASGITransport(app=app)})
        yield app


@pytest.fixture(scope="module")
async def app(yima_infra, routing, notify):
    async for a in _app(yima_infra, routing, notify):
        yield a


class Console:
    """A browser stand-in: one staff member's cookie, forms posted with the page's CSRF token."""

    def __init__(self, app, token: str | None) -> None:
        console = app.state.console  # the console in front of this mediation app
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=console), base_url=f"http://{HOST}")
        self.token = token
        if token:
            self.http.cookies.set(COOKIE, token, domain=HOST, path="/console")

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, data: dict | None = None, *, csrf: bool = True) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body["csrf"] = csrf_of(self.token or "")
        return await self.http.post(path, data=body)

    async def act(self, aid: str, action: str, data: dict | None = None) -> httpx.Response:
        """Post a case form; success is a redirect back to the case page, which is returned."""
        r = await self.post(f"/console/cases/{aid}/{action}", data)
        assert r.status_code == 303, f"{action}: {r.status_code} {errors_of(r.text)}"
        assert r.headers["location"] == f"/console/cases/{aid}?ok={action}"
        page = await self.get(r.headers["location"])
        assert page.status_code == 200 and 'class="ok"' in page.text
        return page


def errors_of(text: str) -> str:
    m = re.search(r'<div class="errors"[^>]*>(.*?)</div>', text, re.S)
    return re.sub(r"<[^>]+>", " ", m.group(1)) if m else ""


def state_of(text: str) -> str:
    m = re.search(r'<span class="state" id="state">([^<]*)</span>', text)
    assert m, "no state on the page"
    return m.group(1)


def next_workday_at(hour: int) -> datetime:
    d = datetime.now(SHANGHAI).date() + timedelta(days=1)
    while not is_workday(d):
        d += timedelta(days=1)
    return datetime(d.year, d.month, d.day, hour, tzinfo=SHANGHAI)


async def new_case(app, unit: str = UNIT) -> UnitCaseAssigned:
    case_id = str(uuid.uuid4())
    ev = UnitCaseAssigned(
        case_id=case_id, correlation_id=case_id, assignment_id=str(uuid.uuid4()), unit_code=unit,
        unit_name="金水区劳动争议人民调解委员会", unit_path=["410105", unit], in_platform=True,
        case_number=f"JSQ-2026-{uuid.uuid4().int % 1000000:06d}", channel=Channel.SELF_SERVICE,
        category=Category.LABOUR_WAGES, risk_level=RiskLevel.YELLOW,
        description="包工头拖欠我们三个月工资，一共两万多元",
        applicant=Party(name="买买提·艾力", phone="13812345678"), location=Location(unit_code="410105001001"),
        supervisor_unit_code="410105", supervisor_unit_name="金水区矛盾纠纷多元化解中心",
        due_at=datetime.now(UTC) + timedelta(days=7))
    rt = app.state.runtime
    assert await app.state.service.ingest(ev, rt.consumers)
    return ev


async def test_login_through_routing_sets_a_strict_httponly_cookie_and_logout_clears_it(app) -> None:
    c = Console(app, None)
    page = await c.get("/console/queue")
    assert page.status_code == 303 and page.headers["location"] == "/console/login?why=none"
    assert "请先登录" in (await c.get("/console/login?why=none")).text

    wrong = await c.post("/console/login", {"username": "jsq-ldtj-01", "password": "nope"}, csrf=False)
    assert wrong.status_code == 401 and "用户名或密码错误" in errors_of(wrong.text)
    assert 'value="jsq-ldtj-01"' in wrong.text and COOKIE not in wrong.headers.get("set-cookie", "")
    empty = await c.post("/console/login", {"username": "jsq-ldtj-01", "password": ""}, csrf=False)
    assert empty.status_code == 422 and "请填写账号和密码" in errors_of(empty.text)

    ok = await c.post("/console/login", {"username": "jsq-ldtj-01", "password": PASSWORD}, csrf=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/console/dispatch"  # a dispatcher's home
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # settings.secure_cookie is off
    queue = await c.get("/console/queue")
    assert queue.status_code == 200 and "调解待办" in queue.text and "王受理" in queue.text
    c.token = c.http.cookies[COOKIE]

    out = await c.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login?why=out"
    assert f'{COOKIE}=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    assert (await c.get("/console/queue")).status_code == 303


async def test_an_expired_or_forged_token_goes_back_to_login_in_chinese(app) -> None:
    old = issue(ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1))
    r = await Console(app, old).get("/console/queue")
    assert r.status_code == 303 and r.headers["location"] == "/console/login?why=expired"
    assert "登录已过期，请重新登录" in (await Console(app, None).get(r.headers["location"])).text
    r = await Console(app, issue()[:-4] + "AAAA").get("/console/queue")
    assert r.headers["location"] == "/console/login?why=invalid"
    r = await Console(app, issue(StaffRole.ANALYST)).get("/console/queue")  # the API refuses analysts too
    assert r.status_code == 403 and "当前岗位无权进行此操作" in errors_of(r.text)
    assert 'id="nav-analyst"' in r.text and 'id="nav-queue"' not in r.text  # an analyst's own navigation


async def test_the_whole_flow_through_the_forms(app) -> None:
    staff = Console(app, issue())
    svc = app.state.service
    name = f"王调解{uuid.uuid4().hex[:4]}"
    r = await staff.post("/console/people", {"kind": "mediator", "name": name, "staff_id": "m-1",
                                             "fields": "labour_wages"})
    assert r.status_code == 303 and r.headers["location"] == "/console/people?ok=person"
    people = await staff.get("/console/people")
    assert name in people.text and "劳动" in people.text
    mediator_id = next(p["person_id"] for p in await svc.list_people(
        (await _claims(staff)), "mediator", None, None) if p["name"] == name)

    ev = await new_case(app)
    aid = ev.assignment_id
    queue = await staff.get("/console/queue", params={"state": "new"})
    assert f'href="/console/cases/{aid}"' in queue.text
    assert "买买提·*" in queue.text and "买买提·艾力" not in queue.text  # masked as in the API's queue
    page = await staff.get(f"/console/cases/{aid}")
    assert state_of(page.text) == "待受理" and f'name="csrf" value="{csrf_of(staff.token)}"' in page.text
    assert 'accept-charset="utf-8"' in page.text and "<script" not in page.text

    page = await staff.act(aid, "accept", {"kind": "people"})
    assert state_of(page.text) == "已受理" and "已受理" in page.text
    page = await staff.act(aid, "party", {"role": "respondent", "name": "郑州某建筑劳务公司", "is_organisation": "1"})
    assert "郑州某建筑劳务公司" in page.text
    page = await staff.act(aid, "mediators", {"person_ids": mediator_id})
    assert name in re.search(r'<span id="mediators">(.*?)</span>', page.text).group(1)

    start = next_workday_at(10)
    page = await staff.act(aid, "schedule", {"mode": "online", "format": "joint", "date": start.date().isoformat(),
                                             "start": "10:00", "end": "11:00"})
    assert state_of(page.text) == "调解中"
    assert f"{start:%Y-%m-%d} 10:00" in page.text and "线上视频调解" in page.text
    session_id = re.search(r'name="session_id" value="([^"]+)"', page.text).group(1)
    ses = (await svc.list_sessions(aid, await _claims(staff)))[0]
    assert ses["starts_at"] == start and ses["ends_at"] == start + timedelta(hours=1)

    mediator = Console(app, issue(StaffRole.MEDIATOR, sub="m-1"))
    early = await mediator.post(f"/console/cases/{aid}/record", {"session_id": session_id, "attended": ["p1", "p2"],
                                                                "summary": "双方陈述意见", "next_step": "起草调解协议"})
    assert early.status_code == 409 and "开始前不能记录" in errors_of(early.text)  # the page says why, in Chinese
    real_clock = svc.now
    svc.now = lambda: start + timedelta(minutes=40)  # the session has begun
    try:
        r = await mediator.post(f"/console/cases/{aid}/record", {"session_id": session_id, "attended": ["p1", "p2"],
                                                                "summary": "双方陈述意见，公司同意分期支付",
                                                                "next_step": "起草调解协议"})
    finally:
        svc.now = real_clock
    assert r.status_code == 303, errors_of(r.text)
    page = await mediator.act(aid, "agreement", {
        "facts_zh": "申请人在被申请人工地务工，被拖欠工资两万元。",
        "terms": "被申请人于2026年12月31日前支付工资一万元\n\n余款一万元于2027年1月31日前付清\n"})
    assert "余款一万元" in page.text and "草稿" in page.text
    assert (await svc.agreement_view((await svc.get_case(aid, await _claims(staff)))["agreement_id"],
                                     await _claims(staff)))["terms"] == [
        "被申请人于2026年12月31日前支付工资一万元", "余款一万元于2027年1月31日前付清"]
    one_line = await mediator.post(f"/console/cases/{aid}/agreement", {"facts_zh": "", "terms": "只写了一条"})
    assert one_line.status_code == 422 and "基本事实：内容太短" in errors_of(one_line.text)
    assert ">只写了一条</textarea>" in one_line.text  # what was typed is kept, its form open
    assert '<details class="card" id="box-agreement" open>' in one_line.text
    early = await mediator.post(f"/console/cases/{aid}/sign", SURE)
    assert early.status_code == 409 and "尚有当事人未确认协议：p1、p2" in errors_of(early.text)
    await mediator.act(aid, "confirm", {"party_id": "p1", "method": "signature"})
    page = await mediator.act(aid, "confirm", {"party_id": "p2", "method": "in_person"})
    assert "当面确认" in page.text
    unsure = await mediator.post(f"/console/cases/{aid}/sign")
    assert unsure.status_code == 422 and "请先勾选确认" in errors_of(unsure.text)
    assert 'name="sure" value="1" required>' in unsure.text
    page = await mediator.act(aid, "sign", SURE)
    assert state_of(page.text) == "已达成协议" and "SHA-256" in page.text
    pdf = await mediator.get(f"/console/cases/{aid}/agreement.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    page = await mediator.act(aid, "judicial", {"court_zh": "金水区人民法院"})
    assert "登记法院答复（金水区人民法院）" in page.text
    early = await mediator.post(f"/console/cases/{aid}/close", SURE)
    assert early.status_code == 409 and "司法确认尚未答复，暂不能结案" in errors_of(early.text)
    page = await mediator.act(aid, "court", {"confirmed": "1", "ruling_no": "(2026)豫0105民特123号"})
    assert "法院裁定确认协议有效（(2026)豫0105民特123号）" in page.text
    page = await mediator.act(aid, "close", SURE)
    assert state_of(page.text) == "已办结" and "结案" in page.text
    assert (await app.state.runtime.db["cases"].find_one({"_id": aid}))["outcome"] == "judicial_confirmation"

    audit = [a async for a in app.state.runtime.db["audit"].find({"object_id": aid}).sort("_id", 1)]
    # the console's calls are mediation's API calls: in mediation's audit chain under the API's routes
    acts = [(a["actor"], a["action"], a["success"]) for a in audit if a["action"].startswith("POST /api/v1")]
    assert ("s-1", "POST /api/v1/cases/{assignment_id}/accept", True) in acts
    assert ("m-1", "POST /api/v1/cases/{assignment_id}/close", True) in acts
    assert await app.state.runtime.db["audit"].find_one({
        "actor": "m-1", "action": "POST /api/v1/agreements/{agreement_id}/sign", "success": False})
    for a in audit:
        assert "13812345678" not in str(a) and "艾力" not in str(a)


async def test_fail_transfer_and_the_case_file_package(app) -> None:
    staff = Console(app, issue())
    aid = (await new_case(app)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    page = await staff.act(aid, "fail", {"reason": "被申请人拒绝调解", "next": "transfer"} | SURE)
    assert state_of(page.text) == "调解不成" and 'id="to"' in page.text
    page = await staff.act(aid, "transfer", {"to": "litigation", "receiving_body_zh": "金水区人民法院"} | SURE)
    assert state_of(page.text) == "已转出" and "金水区人民法院" in page.text
    z = await staff.get(f"/console/cases/{aid}/package.zip")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert "case.json" in names and "sessions.json" in names
    none = await staff.get(f"/console/cases/{aid}/agreement.pdf")
    assert none.status_code == 404 and "本案还没有调解协议" in errors_of(none.text)


async def test_refusals_are_chinese_messages_on_the_page(app) -> None:
    staff = Console(app, issue())
    aid = (await new_case(app)).assignment_id

    r = await staff.post(f"/console/cases/{aid}/return", {"reason": " "})
    assert r.status_code == 422 and "理由：内容太短" in errors_of(r.text)
    assert state_of(r.text) == "待受理"

    # CSRF: a form without the session's token (or with another session's) changes nothing
    r = await staff.post(f"/console/cases/{aid}/accept", {"kind": "people"}, csrf=False)
    assert r.status_code == 403 and "缺少安全校验码" in errors_of(r.text)
    r = await staff.http.post(f"/console/cases/{aid}/accept", data={"csrf": csrf_of(issue()), "kind": "people"})
    assert r.status_code == 403 and state_of(r.text) == "待受理"

    mediator = Console(app, issue(StaffRole.MEDIATOR, sub="m-1"))
    r = await mediator.post(f"/console/cases/{aid}/accept", {"kind": "people"})
    assert r.status_code == 403 and "当前岗位无权进行此操作" in errors_of(r.text)
    assert 'id="box-accept"' not in r.text  # nor is the form offered to a mediator

    other = Console(app, issue(unit=OTHER, sub="o-1"))
    r = await other.get(f"/console/cases/{aid}")
    assert r.status_code == 404 and "未找到该案件，或不属于本单位" in errors_of(r.text)
    assert "买买提" not in r.text and "工资" not in r.text
    r = await other.post(f"/console/cases/{aid}/accept", {"kind": "people"})
    assert r.status_code == 404 and "未找到该案件" in errors_of(r.text)
    tried = [(a["action"], a["success"], a["detail"]) async for a in app.state.runtime.db["audit"].find(
        {"object_id": aid, "actor": "o-1"}).sort("_id", 1)]
    assert {(a, ok) for a, ok, _ in tried} == {("GET /api/v1/cases/{assignment_id}", False),
                                               ("POST /api/v1/cases/{assignment_id}/accept", False)}

    r = await staff.post(f"/console/cases/{aid}/schedule", {"mode": "online", "date": "", "start": "", "end": ""})
    assert r.status_code == 422 and "请填写完整的日期和时间" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/close", SURE)
    assert r.status_code == 409 and "不能进行此操作" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/return", {"reason": "不属于本委员会受理范围"})
    assert r.status_code == 303
    assert state_of((await staff.get(f"/console/cases/{aid}")).text) == "已退回"


async def test_leaders_see_the_units_below(app) -> None:
    aid = (await new_case(app)).assignment_id
    leader = Console(app, TokenIssuer.dev().issue(staff_id="l-1", unit="410105", role=StaffRole.LEADER,
                                                  unit_path=("410105",), name="李主任"))
    own = await leader.get("/console/queue")
    assert aid not in own.text and "含下级单位" in own.text
    below = await leader.get("/console/queue", params={"scope": "below"})
    assert f'href="/console/cases/{aid}"' in below.text and "承办单位" in below.text
    mediator = Console(app, issue(StaffRole.MEDIATOR, sub="m-1"))
    r = await mediator.get("/console/queue", params={"scope": "below"})
    assert "只有调度、领导和管理员可查看下级单位的案件" in errors_of(r.text)


async def _claims(c: Console):
    from yima_kit.auth import TokenVerifier

    return TokenVerifier.from_setting("").verify(c.token or "")


async def test_experts_rooms_and_an_offline_session(app) -> None:
    staff = Console(app, issue())
    svc = app.state.service
    me = await _claims(staff)
    tag = uuid.uuid4().hex[:4]
    for kind, name, extra in (("mediator", f"周调解{tag}", {}),
                              ("lawyer", f"赵律师{tag}", {"employer": "郑州某建筑劳务公司"}),
                              ("lawyer", f"李明{tag}", {"title_zh": "河南某律师事务所律师",
                                                        "relations": "张三 同事\n买买提·艾力 亲属"})):
        r = await staff.post("/console/people", {"kind": kind, "name": name, **extra})
        assert r.status_code == 303, errors_of(r.text)
    bad = await staff.post("/console/people", {"kind": "wizard", "name": "某人"})
    assert bad.status_code == 422 and "类别：取值不在允许范围内" in errors_of(bad.text)
    room = f"第{tag}调解室"
    assert (await staff.post("/console/rooms", {"name_zh": room})).status_code == 303
    assert room in (await staff.get("/console/people")).text
    mediator = Console(app, issue(StaffRole.MEDIATOR, sub="m-1"))
    r = await mediator.post("/console/people", {"kind": "lawyer", "name": "某律师"})
    assert r.status_code == 403 and "当前岗位无权进行此操作" in errors_of(r.text)
    assert 'id="register"' not in (await mediator.get("/console/people")).text

    people = {p["name"]: p["person_id"] for p in await svc.list_people(me, None, None, None)}
    aid = (await new_case(app)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    await staff.act(aid, "party", {"role": "respondent", "name": "郑州某建筑劳务公司", "is_organisation": "1"})
    await staff.act(aid, "mediators", {"person_ids": people[f"周调解{tag}"]})
    r = await staff.post(f"/console/cases/{aid}/invite", {"person_id": people[f"赵律师{tag}"]})
    assert r.status_code == 409 and "任职于本案被申请人" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/invite", {"person_id": people[f"李明{tag}"]})
    assert r.status_code == 409 and "与本案申请人存在亲属关系" in errors_of(r.text)  # declared on the form
    await app.state.runtime.db["people"].update_one({"_id": people[f"李明{tag}"]}, {"$set": {"relations": []}})
    page = await staff.act(aid, "invite", {"person_id": people[f"李明{tag}"]})
    assert f"律师李明{tag}：已邀请，待答复" in page.text
    inv = re.search(r'<select name="invitation_id"><option value="([^"]+)"', page.text).group(1)
    page = await staff.act(aid, "answer", {"invitation_id": inv, "accept": "1"})
    assert f"律师李明{tag}：已同意" in page.text

    room_id = next(x["room_id"] for x in await svc.list_rooms(me) if x["name_zh"] == room)
    start = next_workday_at(15)
    day = start.date().isoformat()
    r = await staff.post(f"/console/cases/{aid}/availability", {"party_id": "p1", "windows": "明天上午"})
    assert r.status_code == 422 and "请填写完整的日期和时间" in errors_of(r.text)
    await staff.act(aid, "availability", {"party_id": "p1", "windows": f"{day} 14:30-16:30\n\n{day} 17:00-18:00"})
    r = await staff.post(f"/console/cases/{aid}/schedule", {"mode": "online", "date": day, "start": "10:00",
                                                            "end": "11:00"})
    assert r.status_code == 409 and "当事人p1在该时间不方便" in errors_of(r.text)
    form = {"mode": "offline", "format": "joint", "date": start.date().isoformat(), "start": "15:00", "end": "16:00"}
    r = await staff.post(f"/console/cases/{aid}/schedule", form)
    assert r.status_code == 422 and "线下调解须选择本单位的调解室" in errors_of(r.text)
    page = await staff.act(aid, "schedule", form | {"room_id": room_id})
    assert room in page.text and "线下调解" in page.text
    r = await staff.post(f"/console/cases/{aid}/schedule", form | {"room_id": room_id})
    assert r.status_code == 409 and "已被预约" in errors_of(r.text)


async def test_staff_resend_an_invitation_sms_from_the_case_page(app) -> None:
    staff = Console(app, issue())
    svc = app.state.service
    me = await _claims(staff)
    tag = uuid.uuid4().hex[:4]
    sage = (await svc.register_person(me, "sage", f"孙乡贤{tag}", "13700001212", [], [], None, None, None))["person_id"]
    mute = (await svc.register_person(me, "sage", f"王乡贤{tag}", None, [], [], None, None, None))["person_id"]
    aid = (await new_case(app)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    await staff.act(aid, "invite", {"person_id": sage})
    page = await staff.act(aid, "invite", {"person_id": mute})
    invs = {i["person_id"]: i["invitation_id"] for i in await svc.list_invitations(aid, me)}
    # a button on the texted expert's line only (without a phone there is no text to send again)
    assert f'id="resend-{invs[sage]}"' in page.text and f'id="resend-{invs[mute]}"' not in page.text
    stored = await app.state.runtime.db["invitations"].find_one({"_id": invs[sage]})
    # without the session's CSRF token the form changes nothing
    r = await staff.post(f"/console/cases/{aid}/resend", {"invitation_id": invs[sage]}, csrf=False)
    assert r.status_code == 403 and "缺少安全校验码" in errors_of(r.text)
    assert (await app.state.runtime.db["invitations"].find_one({"_id": invs[sage]}))["code_idx"] == stored["code_idx"]
    page = await staff.act(aid, "resend", {"invitation_id": invs[sage]})
    assert "已重新发送邀请短信" in page.text and f"向乡贤孙乡贤{tag}重新发送邀请短信" in page.text
    assert (await app.state.runtime.db["invitations"].find_one({"_id": invs[sage]}))["code_idx"] != stored["code_idx"]
    # an invitation of another case cannot be reached through this case's form (nor one of another unit)
    other = (await new_case(app)).assignment_id
    await staff.act(other, "accept", {"kind": "people"})
    r = await staff.post(f"/console/cases/{other}/resend", {"invitation_id": invs[sage]})
    assert r.status_code == 404 and "未找到该邀请" in errors_of(r.text)
    r = await Console(app, issue(unit=OTHER, sub="o-1")).post(f"/console/cases/{aid}/resend",
                                                              {"invitation_id": invs[sage]})
    assert r.status_code == 404
    r = await staff.post(f"/console/cases/{aid}/resend", {"invitation_id": invs[mute]})
    assert r.status_code == 409 and "手机号" in errors_of(r.text)
    for _ in range(svc.settings.invite_resend_max_per_day - 1):
        await staff.act(aid, "resend", {"invitation_id": invs[sage]})
    r = await staff.post(f"/console/cases/{aid}/resend", {"invitation_id": invs[sage]})
    assert r.status_code == 409 and "24小时内已重新发送" in errors_of(r.text)
    # declined: the button goes
    page = await staff.act(aid, "answer", {"invitation_id": invs[sage], "accept": "0", "reason": "外出"})
    assert f'id="resend-{invs[sage]}"' not in page.text


# --- the unit's inbox, read from notify -------------------------------------------------------------------


def _message(unit: str, title: str, text: str, created_at: str, read: bool = False) -> dict:
    nid = f"{uuid.uuid4()}|unit:{unit}|inbox"  # notify's ids carry "|" and ":": they must travel quoted
    return {"notification_id": nid, "case_number": "JSQ-2026-000123", "template_id": "unit_new_case",
            "title": title, "text": text, "created_at": created_at, "read_at": "2026-11-20T01:00:00" if read else None}


async def test_the_inbox_page_reads_notify_with_the_staff_token_and_marks_read(app) -> None:
    unit = f"IN{uuid.uuid4().hex[:6]}"
    new = _message(unit, "新案件待受理", "案件JSQ-2026-000123已分派到本单位，请及时受理", "2026-11-23T02:30:00")
    old = _message(unit, "调解已安排", "已安排线上视频调解", "2026-11-22T07:05:00+00:00", read=True)
    _FakeNotify.inboxes[unit] = [new, old]
    _FakeNotify.inboxes[OTHER] = [_message(OTHER, "别的单位的消息", "不应出现", "2026-11-23T03:00:00")]
    staff = Console(app, issue(unit=unit, sub="s-in"))
    _FakeNotify.seen.clear()

    queue = await staff.get("/console/queue")
    assert queue.status_code == 200
    assert re.search(r'id="nav-inbox">消息<span class="badge" id="unread">1</span>', queue.text)
    assert ("GET", "/api/v1/inbox/unit?unread=true", f"Bearer {staff.token}") in _FakeNotify.seen

    page = await staff.get("/console/inbox")
    assert page.status_code == 200 and "消息暂时无法显示" not in page.text
    rows = re.findall(r'<tr class="(unread|read)"><td class="time"[^>]*>([^<]*)</td>', page.text)
    assert rows == [("unread", "2026-11-23 10:30"), ("read", "2026-11-22 15:05")]  # Beijing time, newest first
    assert "案件JSQ-2026-000123已分派到本单位，请及时受理" in page.text and "别的单位的消息" not in page.text
    assert page.text.count(">标为已读</button>") == 1  # only the unread one has the button
    assert f'name="notification_id" value="{new["notification_id"]}"' in page.text
    assert ("GET", "/api/v1/inbox/unit?unread=false", f"Bearer {staff.token}") in _FakeNotify.seen
    unread_only = await staff.get("/console/inbox", params={"unread": "1"})
    assert "新案件待受理" in unread_only.text and "调解已安排" not in unread_only.text

    # CSRF: without the session's token nothing is marked and notify is not asked
    _FakeNotify.seen.clear()
    r = await staff.post("/console/inbox/read", {"notification_id": new["notification_id"]}, csrf=False)
    assert r.status_code == 403 and "缺少安全校验码" in errors_of(r.text) and new["read_at"] is None
    assert not [x for x in _FakeNotify.seen if x[0] == "POST"]

    r = await staff.post("/console/inbox/read", {"notification_id": new["notification_id"]})
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox?ok=read"
    path = "/api/v1/inbox/unit/" + quote(new["notification_id"], safe="") + "/read"
    assert ("POST", path, f"Bearer {staff.token}") in _FakeNotify.seen
    assert new["read_at"] is not None
    page = await staff.get(r.headers["location"])
    assert "已标为已读" in page.text and 'id="unread"' not in page.text and ">标为已读</button>" not in page.text

    # another unit's message: notify refuses it for this token, the console says so in Chinese
    foreign = _FakeNotify.inboxes[OTHER][0]["notification_id"]
    r = await staff.post("/console/inbox/read", {"notification_id": foreign})
    assert r.status_code == 404 and "本单位没有这条消息" in errors_of(r.text)
    assert _FakeNotify.inboxes[OTHER][0]["read_at"] is None
    # both asked of notify with the staff member's own token (notify keeps the record of its inbox)
    foreign_path = "/api/v1/inbox/unit/" + quote(foreign, safe="") + "/read"
    assert ("POST", foreign_path, f"Bearer {staff.token}") in _FakeNotify.seen


@pytest.fixture(scope="module")
async def app_without_notify(yima_infra, routing):
    dead = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on: notify is down
    async for a in _app(yima_infra, routing, dead):
        yield a


async def test_the_console_works_while_notify_is_down(app_without_notify) -> None:
    app = app_without_notify
    staff = Console(app, issue())
    aid = (await new_case(app)).assignment_id
    queue = await staff.get("/console/queue")
    assert queue.status_code == 200 and f'href="/console/cases/{aid}"' in queue.text
    assert 'id="nav-inbox">消息</a>' in queue.text  # no count, no error: the rest of the page is unaffected
    page = await staff.act(aid, "accept", {"kind": "people"})
    assert state_of(page.text) == "已受理"
    inbox = await staff.get("/console/inbox")
    assert inbox.status_code == 200 and "消息暂时无法显示" in errors_of(inbox.text)
    r = await staff.post("/console/inbox/read", {"notification_id": "x|unit:JSQ-LDTJ|inbox"})
    assert r.status_code == 502 and "消息服务暂时无法连接" in errors_of(r.text)


# --- online calls, async turns ------------------------------------------------------------------------------


async def _ready_case(app, unit: str) -> tuple[Console, str]:
    """A case of a fresh unit (its own registry: no other test's people), accepted, with a respondent and a
    mediator."""
    staff = Console(app, issue(unit=unit, sub=f"s-{unit}"))
    name = f"周调解{unit[-4:]}"
    assert (await staff.post("/console/people", {"kind": "mediator", "name": name})).status_code == 303
    mediator = next(p["person_id"] for p in await app.state.service.list_people(
        await _claims(staff), "mediator", None, None))
    aid = (await new_case(app, unit)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    await staff.act(aid, "party", {"role": "respondent", "name": "郑州某建筑劳务公司", "is_organisation": "1"})
    await staff.act(aid, "mediators", {"person_ids": mediator})
    return staff, aid


async def test_online_call_of_a_lawyer_or_judge(app) -> None:
    unit, court = f"CA{uuid.uuid4().hex[:6]}", f"FY{uuid.uuid4().hex[:6]}"
    staff, aid = await _ready_case(app, unit)
    assert (await staff.post("/console/people", {"kind": "lawyer", "name": "钱律师"})).status_code == 303
    page = await staff.get(f"/console/cases/{aid}")
    assert 'id="box-call"' in page.text and "立即呼叫" in page.text

    page = await staff.act(aid, "call", {"kind": "lawyer", "party_id": "p1"})
    assert "在线呼叫（申请人 买买提·艾力发起）" in page.text and "参加：律师钱律师" in page.text
    assert "已接通在线呼叫" in page.text and "在线呼叫律师钱律师，已接通" in page.text
    call = next(x for x in await app.state.service.list_sessions(aid, await _claims(staff)) if x.get("on_demand"))
    # the only lawyer is held for this call: a second call finds nobody, in Chinese
    r = await staff.post(f"/console/cases/{aid}/call", {"kind": "lawyer", "party_id": "p2"})
    assert r.status_code == 409 and "暂无可接入的律师，请稍后再试或预约调解" in errors_of(r.text)
    assert '<details class="card" id="box-call" open>' in r.text
    r = await staff.post(f"/console/cases/{aid}/call", {"kind": "wizard", "party_id": "p1"})
    assert r.status_code == 422 and "类别：取值不在允许范围内" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/call", {"kind": "lawyer", "party_id": "p9"})
    assert r.status_code == 422 and "本案没有这位当事人" in errors_of(r.text)

    page = await staff.act(aid, "end_call", {"session_id": call["session_id"]})
    assert "被呼叫人已释放" in page.text
    await staff.act(aid, "call", {"kind": "lawyer", "party_id": "p2"})  # free again

    # a judge of the court centre's registry (another unit), named on the form
    judge_staff = Console(app, issue(unit=court, sub=f"s-{court}"))
    assert (await judge_staff.post("/console/people", {"kind": "judge", "name": "孙法官"})).status_code == 303
    r = await staff.post(f"/console/cases/{aid}/call", {"kind": "judge", "party_id": "p1"})
    assert r.status_code == 409 and "暂无可接入的法官" in errors_of(r.text)
    page = await staff.act(aid, "call", {"kind": "judge", "party_id": "p1", "unit": court})
    assert "参加：法官孙法官" in page.text

    other = Console(app, issue(unit=OTHER, sub="o-2"))
    r = await other.post(f"/console/cases/{aid}/end_call", {"session_id": call["session_id"]})
    assert r.status_code == 404 and "未找到" in errors_of(r.text)


async def test_async_turns_in_order_within_the_window(app) -> None:
    unit = f"AS{uuid.uuid4().hex[:6]}"
    staff, aid = await _ready_case(app, unit)
    opens = datetime.now(SHANGHAI).replace(second=0, microsecond=0) - timedelta(minutes=1)
    closes = opens + timedelta(days=2)
    form = {"mode": "async", "date": opens.date().isoformat(), "start": f"{opens:%H:%M}",
            "end_date": closes.date().isoformat(), "end": f"{closes:%H:%M}"}
    r = await staff.post(f"/console/cases/{aid}/schedule", form | {"party_order": "p1,p9"})
    assert r.status_code == 422 and "错时调解须列出至少两位本案当事人的答复顺序" in errors_of(r.text)
    assert 'value="p1,p9"' in r.text  # kept
    short = form | {"end_date": opens.date().isoformat(), "end": f"{opens + timedelta(hours=1):%H:%M}"}
    if short["end"] > short["start"]:
        r = await staff.post(f"/console/cases/{aid}/schedule", short)
        assert r.status_code == 422 and "答复期须在4小时至15天之间" in errors_of(r.text)
    page = await staff.act(aid, "schedule", form | {"party_order": "p2，p1"})
    assert "错时异步调解" in page.text and "答复顺序：p2→p1；已答复0次" in page.text
    assert "现应由被申请人 郑州某建筑劳务公司答复" in page.text and 'id="box-turn" open' in page.text
    ses = (await app.state.service.list_sessions(aid, await _claims(staff)))[0]
    assert ses["party_order"] == ["p2", "p1"] and ses["ends_at"] == closes

    turn = {"session_id": ses["session_id"]}
    r = await staff.post(f"/console/cases/{aid}/turn", turn | {"party_id": "p1", "statement": "我要求一次付清"})
    assert r.status_code == 409 and "现在应由p2答复" in errors_of(r.text)
    assert ">我要求一次付清</textarea>" in r.text  # what was typed is kept
    r = await staff.post(f"/console/cases/{aid}/turn", turn | {"party_id": "p2", "statement": ""})
    assert r.status_code == 422 and "答复内容：内容太短" in errors_of(r.text)
    page = await staff.act(aid, "turn", turn | {"party_id": "p2", "statement": "公司同意分两期支付"})
    assert "已答复1次" in page.text and "现应由申请人 买买提·艾力答复" in page.text
    assert "公司同意分两期支付" not in page.text  # statements are kept encrypted and not shown, as in the API
    stored = await app.state.runtime.db["sessions"].find_one({"_id": ses["session_id"]})
    assert stored["turns"][0]["party_id"] == "p2" and "分两期" not in str(stored["turns"][0]["statement"])
    await staff.act(aid, "turn", turn | {"party_id": "p1", "statement": "同意"})

    # a session of another case (of the same unit) cannot be reached through this case's form
    staff2, aid2 = await _ready_case(app, unit)
    r = await staff.post(f"/console/cases/{aid}/turn", turn | {"party_id": "p2", "statement": "x"})
    assert r.status_code == 303
    r = await staff2.post(f"/console/cases/{aid2}/turn", turn | {"party_id": "p1", "statement": "x"})
    assert r.status_code == 404 and "未找到该调解场次" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/schedule", {
        "mode": "online", "join_url": "http://meet.example.com/x", "date": form["date"], "start": "10:00",
        "end": "11:00"})
    assert r.status_code == 422 and "视频链接：格式不正确" in errors_of(r.text)


# --- livelihood insurance claims -----------------------------------------------------------------------------


def _claim_id(page: str, form_id: str) -> str:
    m = re.search(rf'id="box-{form_id}".*?name="claim_id" value="([^"]+)"', page, re.S)
    assert m, f"no {form_id} form"
    return m.group(1)


async def test_insurance_claims_through_the_forms(app) -> None:
    unit = f"BX{uuid.uuid4().hex[:6]}"
    staff, aid = await _ready_case(app, unit)
    mediator = Console(app, issue(StaffRole.MEDIATOR, unit=unit, sub="m-bx"))
    claim = {"cover": "personal_injury", "claimed_yuan": "3,500.50", "incident_date": "2026-11-01",
             "incident_time": "09:30", "summary": "工地脚手架坍塌致手臂骨折"}
    r = await mediator.post(f"/console/cases/{aid}/claim", claim | {"claimed_yuan": "三千元"})
    assert r.status_code == 422 and "申请金额：请填写正确的金额" in errors_of(r.text)
    assert '<details id="box-claim" open>' in r.text and "工地脚手架坍塌致手臂骨折</textarea>" in r.text
    r = await mediator.post(f"/console/cases/{aid}/claim", claim | {"claimed_yuan": "10.005"})
    assert r.status_code == 422
    page = await mediator.act(aid, "claim", claim)
    assert re.search(r"<td>意外伤害</td><td>3,500.50</td><td>2026-11-01 09:30</td>", page.text)
    assert "已登记，待审核" in page.text and 'id="box-decide-0"' not in page.text  # a mediator does not decide
    cid = re.search(r'name="claim_id" value="([^"]+)"', (await staff.get(f"/console/cases/{aid}")).text).group(1)
    r = await mediator.post(f"/console/cases/{aid}/decide", {"claim_id": cid, "approve": "1", "paid_yuan": "100",
                                                             "reason": "按条款核定"})
    assert r.status_code == 403 and "当前岗位无权进行此操作" in errors_of(r.text)

    page = await staff.get(f"/console/cases/{aid}")
    assert _claim_id(page.text, "decide-0") == cid
    decide = {"claim_id": cid, "approve": "1", "reason": "按保险条款核定"}
    r = await staff.post(f"/console/cases/{aid}/decide", decide | {"paid_yuan": "4000"})
    assert r.status_code == 422 and "赔付金额不能超过申请金额" in errors_of(r.text)
    r = await staff.post(f"/console/cases/{aid}/decide", decide)
    assert r.status_code == 422 and "核准赔付须填写赔付金额" in errors_of(r.text)
    page = await staff.act(aid, "decide", decide | {"paid_yuan": "3000"})
    assert "核准赔付 3,000.00 元（按保险条款核定）" in page.text and "已作出决定" in page.text
    page = await mediator.act(aid, "dispute", {"claim_id": cid, "reason": "医疗费票据未计入"})
    assert "有异议，待复核" in page.text and "异议：医疗费票据未计入" in page.text
    redecide = {"claim_id": cid, "approve": "1", "paid_yuan": "3500.50", "reason": "补计医疗费"}
    r = await staff.post(f"/console/cases/{aid}/redecide", redecide)
    assert r.status_code == 422 and "请先勾选确认" in errors_of(r.text)
    page = await staff.act(aid, "redecide", redecide | SURE)
    assert "复核：核准赔付 3,500.50 元（补计医疗费）" in page.text and "复核已决定（最终）" in page.text
    r = await mediator.post(f"/console/cases/{aid}/dispute", {"claim_id": cid, "reason": "还是不服"})
    assert r.status_code == 409 and "理赔申请当前状态不能进行此操作" in errors_of(r.text)
    page = await mediator.act(aid, "evaluate", {"claim_id": cid, "satisfaction": "5", "comment": "处理及时"})
    assert "评价：5 非常满意，处理及时" in page.text and "已评价" in page.text
    doc = await app.state.runtime.db["insurance_claims"].find_one({"_id": cid})
    assert doc["paid_fen"] == 350050 and doc["claimed_fen"] == 350050 and doc["state"] == "evaluated"

    # another case's claim cannot be reached through this case's forms; another unit sees nothing
    staff2, aid2 = await _ready_case(app, unit)
    r = await staff2.post(f"/console/cases/{aid2}/dispute", {"claim_id": cid, "reason": "借别的案件提异议"})
    assert r.status_code == 404 and "未找到该理赔申请" in errors_of(r.text)
    other = Console(app, issue(unit=OTHER, sub="o-3"))
    r = await other.post(f"/console/cases/{aid}/evaluate", {"claim_id": cid, "satisfaction": "1"})
    assert r.status_code == 404 and "未找到该案件" in errors_of(r.text)

    listing = await staff.get("/console/insurance")
    assert listing.status_code == 200 and f'href="/console/cases/{aid}#claims"' in listing.text
    assert re.search(r"<td>意外伤害</td><td>3,500.50</td><td>3,500.50</td>", listing.text)
    assert "已决定 1 件，核准赔付 1 件，共 3,500.50 元；提出异议 1 件" in listing.text
    assert 'id="stats"' not in (await mediator.get("/console/insurance")).text  # the API's statistics roles
    assert "本单位还没有理赔申请" in (await other.get("/console/insurance")).text
    audit = [(a["action"], a["success"]) async for a in app.state.runtime.db["audit"].find(
        {"object_id": cid, "action": {"$regex": "insurance|claim|decision|dispute|evaluat"}}).sort("_id", 1)]
    assert ("POST /api/v1/insurance-claims/{claim_id}/review-decision", True) in audit


async def test_a_leader_above_sees_the_parties_masked_and_reveals_one_with_a_reason(app) -> None:
    aid = (await new_case(app)).assignment_id
    staff = Console(app, issue())  # the handling unit's dispatcher: phones the parties
    page = await staff.get(f"/console/cases/{aid}")
    assert "13812345678" in page.text and "买买提·艾力" in page.text and 'id="box-reveal"' not in page.text

    leader = Console(app, TokenIssuer.dev().issue(staff_id="l-9", unit="410105", role=StaffRole.LEADER,
                                                  unit_path=("410105",), name="李主任"))
    below = await leader.get("/console/queue", params={"scope": "below"})
    assert f'href="/console/cases/{aid}"' in below.text and "买买提·*" in below.text
    assert "13812345678" not in below.text and "买买提·艾力" not in below.text
    page = await leader.get(f"/console/cases/{aid}")
    assert page.status_code == 200 and "138****5678" in page.text and "买买提·*" in page.text
    assert "13812345678" not in page.text and "艾力" not in page.text
    assert 'id="masked"' in page.text and "查看完整信息" in page.text

    r = await leader.post(f"/console/cases/{aid}/reveal", {"party_id": "p1", "reason": "看看"})
    assert r.status_code == 422 and "须填写理由" in errors_of(r.text) and "13812345678" not in r.text
    assert 'value="看看"' in r.text  # the typed reason is kept in the reopened form
    r = await leader.post(f"/console/cases/{aid}/reveal", {"party_id": "p1", "reason": "督办约谈，需电话联系申请人"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    row = re.search(r'<tr id="party-p1">(.*?)</tr>', r.text).group(1)
    assert "13812345678" in row and "买买提·艾力" in row and "记入审计日志" in r.text
    again = await leader.get(f"/console/cases/{aid}")  # the next page is masked again
    assert "13812345678" not in again.text

    audit = [a async for a in app.state.runtime.db["audit"].find({"object_id": aid}).sort("_id", 1)]
    reveals = [a for a in audit if a["action"] == "case.party_contact.reveal"]
    assert [(a["actor"], a["detail"], a["personal_data"]) for a in reveals] == [
        ("l-9", "p1：督办约谈，需电话联系申请人", True)]
    posts = [(a["actor"], a["success"]) for a in audit
             if a["action"] == "POST /api/v1/cases/{assignment_id}/parties/{party_id}/contact"]
    assert posts == [("l-9", False), ("l-9", True)]
    full_reads = [a["actor"] for a in audit if a["action"] == "case.personal_data.read"]
    assert full_reads == ["s-1"]  # the dispatcher's page; the leader's masked pages are no such read

    other = Console(app, TokenIssuer.dev().issue(staff_id="l-o", unit="410106", role=StaffRole.LEADER,
                                                 unit_path=("410106",)))
    r = await other.post(f"/console/cases/{aid}/reveal", {"party_id": "p1", "reason": "督办约谈，需电话联系申请人"})
    assert r.status_code == 404 and "13812345678" not in r.text


async def held_session_through_the_forms(app, staff: Console, aid: str) -> None:
    """A mediator registered and assigned, a session booked for the next working morning and recorded once it
    has begun (an agreement is signed only after a held session)."""
    svc = app.state.service
    name = f"李调解{uuid.uuid4().hex[:4]}"
    await staff.post("/console/people", {"kind": "mediator", "name": name, "staff_id": "m-1",
                                         "fields": "labour_wages"})
    pid = next(p["person_id"] for p in await svc.list_people(await _claims(staff), "mediator", None, None)
               if p["name"] == name)
    await staff.act(aid, "mediators", {"person_ids": pid})
    start = next_workday_at(10)
    page = await staff.act(aid, "schedule", {"mode": "online", "format": "joint", "date": start.date().isoformat(),
                                             "start": "10:00", "end": "11:00"})
    session_id = re.search(r'name="session_id" value="([^"]+)"', page.text).group(1)
    real_clock = svc.now
    svc.now = lambda: start + timedelta(minutes=40)
    try:
        await staff.act(aid, "record", {"session_id": session_id, "attended": ["p1", "p2"],
                                        "summary": "双方陈述意见", "next_step": "起草调解协议"})
    finally:
        svc.now = real_clock


async def test_a_leader_above_downloads_the_documents_in_full_only_with_a_stated_reason(app) -> None:
    staff = Console(app, issue())  # the handling unit's dispatcher: plain links, as before
    aid = (await new_case(app)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    await staff.act(aid, "party", {"role": "respondent", "name": "郑州某建筑劳务公司", "is_organisation": "1"})
    await held_session_through_the_forms(app, staff, aid)
    await staff.act(aid, "agreement", {"facts_zh": "申请人在被申请人工地务工，被拖欠工资两万元。",
                                       "terms": "被申请人于2026年12月31日前支付工资两万元"})
    await staff.act(aid, "confirm", {"party_id": "p1", "method": "signature"})
    await staff.act(aid, "confirm", {"party_id": "p2", "method": "in_person"})
    page = await staff.act(aid, "sign", SURE)
    assert f'<a class="button" id="pdf" href="/console/cases/{aid}/agreement.pdf">' in page.text
    assert "下载原件的事由" not in page.text
    pdf = await staff.get(f"/console/cases/{aid}/agreement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    leader = Console(app, TokenIssuer.dev().issue(staff_id="l-7", unit="410105", role=StaffRole.LEADER,
                                                  unit_path=("410105",), name="李主任"))
    page = await leader.get(f"/console/cases/{aid}")
    assert "下载原件的事由" in page.text and 'id="pdf-reason" name="reason"' in page.text
    assert f'<form method="get" action="/console/cases/{aid}/agreement.pdf"' in page.text
    assert f'href="/console/cases/{aid}/agreement.pdf"' not in page.text
    r = await leader.get(f"/console/cases/{aid}/agreement.pdf")
    assert r.status_code == 422 and "须填写事由" in errors_of(r.text) and not r.content.startswith(b"%PDF")
    assert 'id="pdf-reason"' in r.text  # back on the case page, the form at hand
    r = await leader.get(f"/console/cases/{aid}/agreement.pdf", params={"reason": "督办核查协议履行情况"})
    assert r.status_code == 200 and r.content == pdf.content and r.headers["cache-control"] == "no-store"

    audit = [a async for a in app.state.runtime.db["audit"].find({"object_id": aid}).sort("_id", 1)]
    reads = [(a["actor"], a["detail"], a["personal_data"]) for a in audit if a["action"] == "case.document.full_read"]
    assert reads == [("s-1", "agreement", True), ("l-7", "agreement：督办核查协议履行情况", True)]
    ag_id = (await app.state.runtime.db["cases"].find_one({"_id": aid}))["agreement_id"]
    calls = [(a["actor"], a["success"]) async for a in app.state.runtime.db["audit"].find(
        {"object_id": ag_id, "action": "GET /api/v1/agreements/{agreement_id}/pdf"}).sort("_id", 1)]
    assert calls == [("s-1", True), ("l-7", False), ("l-7", True)]

    # the transfer package, the same rule
    aid = (await new_case(app)).assignment_id
    await staff.act(aid, "accept", {"kind": "people"})
    await staff.act(aid, "fail", {"reason": "被申请人拒绝调解", "next": "transfer"} | SURE)
    await staff.act(aid, "transfer", {"to": "litigation", "receiving_body_zh": "金水区人民法院"} | SURE)
    page = await leader.get(f"/console/cases/{aid}")
    assert 'id="package-reason"' in page.text and f'href="/console/cases/{aid}/package.zip"' not in page.text
    r = await leader.get(f"/console/cases/{aid}/package.zip", params={"reason": "看看"})
    assert r.status_code == 422 and "移交卷宗" in errors_of(r.text)
    r = await leader.get(f"/console/cases/{aid}/package.zip", params={"reason": "督办复核移交材料"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "case.json" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
