"""The authorization matrix: every route of every service (read from the apps' route tables) × role × the
caller's relation to the object, each cell's answer written down here and asked of the real services
(in-process, real Kafka and MongoDB-protocol server, real tokens). A route with no row fails the suite.

Relations (the object is a case of 农业路社区 410105001002, supervised by 丰产路街道 410105001):
``own`` staff of that community · ``child`` staff of the street above it (the object is in their child unit)
· ``sibling`` staff of 北林路 another community of the same street · ``street2`` staff of another street ·
``dept`` staff of a district department · ``anon`` no token. Applicant routes: ``right`` / ``wrong`` check.

Cell values: a status code, or ``OK`` = allowed through the checks (2xx, or a 409/422 of the object's state:
the matrix tests who may, not what the state allows; a 422 for the body's schema never counts), or ``DONE`` =
allowed and done (2xx, or 409 once an earlier cell has done it: never a 422). ``district``: staff
of the district (丰产路街道's parent), asked only on the rows that name it. A role a route does not admit answers
403 in every relation (``roles``); the cells then describe the admitted roles, per role where they differ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from yima_contracts import CaseAssigned, CaseRiskAssessed, CaseSubmitted, Location, Party, UnitCaseAssigned
from yima_contracts.codes import Category, Channel, RiskLevel, StaffRole
from yima_contracts.routing_events import LeaderAssigned
from yima_kit.auth import TokenIssuer
from yima_kit.errors import INVALID_BODY_ZH

pytestmark = pytest.mark.integration

R = StaffRole
ALL = tuple(R)
OK = "OK"
DONE = "DONE"
OBJ, STREET, SIBLING, STREET2, DEPT, TOP = "410105001002", "410105001", "410105001003", "410105002", "JSQ-RSJ", "410105"
PATHS = {OBJ: [TOP, STREET, OBJ], STREET: [TOP, STREET], SIBLING: [TOP, STREET, SIBLING], STREET2: [TOP, STREET2],
         DEPT: [TOP, DEPT]}
RELATIONS = {"own": OBJ, "child": STREET, "sibling": SIBLING, "street2": STREET2, "dept": DEPT}
PATHS[TOP] = [TOP]
DISTRICT = {"district": TOP}  # asked only where a row names it
SUP = (R.ADMIN, R.DISPATCHER, R.LEADER)
WORKING = (*SUP, R.MEDIATOR)


def sup_only(yes: Any, no: Any) -> dict[R, Any]:
    """The child relation: supervising roles see below their unit, the others do not."""
    return {r: (yes if r in SUP else no) for r in ALL}


@dataclass(frozen=True)
class Row:
    roles: tuple[R, ...] = ()  # () = a public route (no staff token needed)
    own: Any = OK
    child: Any = OK
    sibling: Any = OK
    street2: Any = OK
    dept: Any = OK
    anon: Any = 401
    right: Any = None  # applicant routes
    wrong: Any = None
    body: dict[str, Any] | Callable[[dict[str, str]], dict[str, Any]] | None = None  # a callable: of the objects
    params: dict[str, str] = field(default_factory=dict)
    district: Any = None  # None = not asked
    use: dict[str, str] = field(default_factory=dict)  # path parameter -> another object's key (its own object)


def scoped(roles: tuple[R, ...], *, child: Any = None, other: Any = 404, **kw: Any) -> Row:
    return Row(roles=roles, own=OK, child=sup_only(OK, other) if child is None else child, sibling=other,
               street2=other, dept=other, **kw)


def unscoped(roles: tuple[R, ...], value: Any = OK, **kw: Any) -> Row:
    return Row(roles=roles, own=value, child=value, sibling=value, street2=value, dept=value, **kw)


PUBLIC = Row(roles=(), anon=OK)
HTML_PUBLIC = Row(roles=(), anon=OK)
DOCS = Row(roles=(), anon=OK)
REASON = {"reason": "授权矩阵测试"}

# --- the matrix ---------------------------------------------------------------------------------------------
# {service: {(method, path template): Row}}; path parameters are filled from the objects made below.

MATRIX: dict[str, dict[tuple[str, str], Row]] = {
    "routing": {
        ("GET", "/api/v1/units"): PUBLIC,
        ("POST", "/api/v1/auth/login"): Row(roles=(), anon=401, body={"username": "nobody", "password": "x"}),
        # matrix tokens carry no session (minted here): refresh finds none; the password change finds no account
        ("POST", "/api/v1/auth/refresh"): unscoped(ALL, 401),
        ("POST", "/api/v1/auth/password"): unscoped(ALL, 401, body={"current_password": "Not#The2026",
                                                                     "new_password": "Matrix#Test2026"}),
        ("POST", "/api/v1/auth/logout"): unscoped(ALL, 200),
        ("PUT", "/api/v1/admin/units/{unit}"): scoped((R.ADMIN,), other=403, body={
            "name": "农业路社区", "kind": "community", "parent": STREET, "jurisdiction": ["农业路", "农科路"],
            **REASON}),
        ("PUT", "/api/v1/admin/staff/{staff}"): scoped((R.ADMIN,), other=403, body={
            "name": "刘涛", "unit": OBJ, "role": "mediator", **REASON}),
        ("GET", "/api/v1/admin/history/{unit}"): scoped((R.ADMIN,)),
        ("POST", "/api/v1/admin/staff/{staff}/password"): scoped((R.ADMIN,), other=403,
                                                               body={"password": "Matrix#Test2026"}),
        ("POST", "/api/v1/admin/staff/{staff}/totp"): scoped((R.ADMIN,), other=403),
        ("PUT", "/api/v1/admin/calendar/{day}"): unscoped((R.ADMIN,), 403, body={"workday": True, **REASON}),
        ("GET", "/api/v1/admin/rules"): unscoped((R.ADMIN,)),
        ("PUT", "/api/v1/admin/rules"): unscoped((R.ADMIN,), 403, body={"rules": {}, **REASON}),
        ("GET", "/api/v1/admin/audit/verify"): unscoped((R.ADMIN, R.ANALYST)),
        ("GET", "/api/v1/units/{unit}/queue"): scoped(WORKING, child=sup_only(OK, 403), other=403),
        # the street supervises the case (谁分配、谁督办): every working role of the street sees it
        ("GET", "/api/v1/cases/{case}/assignments"): scoped(WORKING, child=OK),
        ("GET", "/api/v1/cases/{case}"): scoped(WORKING, child=OK),
        ("GET", "/api/v1/assignments/{assignment}/slip.pdf"): scoped(WORKING, child=OK),
        # only the supervisor dispatches (the handling unit returns instead); run last, back to the community
        ("POST", "/api/v1/cases/{case}/dispatch"): Row(roles=SUP, own=403, child=OK, sibling=403, street2=403,
                                                       dept=403, body={"unit_code": OBJ, **REASON}),
        ("POST", "/api/v1/assignments/{assignment}/return"): scoped(WORKING, body=REASON),
        ("POST", "/api/v1/assignments/{assignment}/pause"): scoped(SUP, body=REASON),
        ("POST", "/api/v1/assignments/{assignment}/resume"): scoped(SUP, body=REASON),
        ("POST", "/api/v1/cases/{case}/joint"): scoped(SUP, body={"unit_codes": [DEPT], **REASON}),
        ("POST", "/api/v1/joint/{joint}/report"): unscoped(WORKING, 404, body={"note": "已到场"}),
        # the console's routes (issue 16), with valid bodies: the supervising unit (the street) or above presses and
        # escalates (escalation on a case of its own, which it moves up); the rules are tried by the district only
        ("POST", "/api/v1/admin/rules/dry-run"): Row(roles=(R.ADMIN,), own=403, child=403, sibling=403, street2=403,
                                                    dept=403, district=DONE, body=lambda v: {
                                                        "rules": json.loads(v["rules_json"]), "days": 30}),
        ("POST", "/api/v1/assignments/{assignment}/urge"): Row(roles=SUP, own=404, child=DONE, sibling=404,
                                                             street2=404, dept=404, district=DONE, body=REASON),
        ("POST", "/api/v1/assignments/{assignment}/escalate"): Row(
            roles=SUP, own=404, child=DONE, sibling=404, street2=404, dept=404, body=REASON,
            use={"assignment_id": "escalate_assignment_id"}),
        ("GET", "/api/v1/units/{unit}/joint"): scoped(WORKING, child=sup_only(OK, 403), other=403),
        ("GET", "/api/v1/joint/{joint}"): unscoped(ALL, 404),
    },
    "risk": {
        ("GET", "/api/v1/ruleset"): PUBLIC,
        # the street supervises the case: its staff see the risk (as routing shows them the case)
        ("GET", "/api/v1/cases/{case}/risk"): Row(roles=ALL, own=200, child=200, sibling=404, street2=404,
                                                  dept=404),
        ("GET", "/api/v1/warnings"): unscoped(ALL, 200),
        ("POST", "/api/v1/cases/{case}/risk/correction"): Row(
            roles=(R.ADMIN, R.LEADER, R.DISPATCHER, R.MEDIATOR), own=OK, child=OK, sibling=404, street2=404, dept=404,
            body={"level": "yellow", "reason_zh": "授权矩阵测试"}),
        ("GET", "/api/v1/risk/corrections"): unscoped((R.ADMIN, R.LEADER, R.ANALYST), 200),  # filtered
        ("GET", "/api/v1/audit/verify"): unscoped((R.ADMIN, R.ANALYST), 200),
        ("GET", "/api/v1/leader/cases"): unscoped((R.ADMIN, R.LEADER), 200),  # the caller's own red cases
        # a red case of its own whose 包案领导 is the street's leader: only that leader records a visit
        ("POST", "/api/v1/cases/{case}/visits"): Row(
            roles=(R.ADMIN, R.LEADER), own=403, child={R.LEADER: DONE, R.ADMIN: 403}, sibling=403, street2=403,
            dept=403, body={"note": "已上门回访，双方情绪稳定", "rebounded": False}, use={"case_id": "red_case_id"}),
    },
    "notify": {
        ("GET", "/api/v1/inbox/applicant/{tracking}"): Row(roles=(), anon=None, right=200, wrong=404),
        ("GET", "/api/v1/inbox/unit"): unscoped(ALL, 200),  # always the caller's own unit's inbox
        ("POST", "/api/v1/inbox/unit/{notification}/read"): unscoped(ALL, 404),  # another unit's: as none
        ("GET", "/api/v1/failures"): unscoped(SUP, 200),  # the caller's own unit's
        ("PUT", "/api/v1/units/{unit}/contacts"): Row(roles=(R.ADMIN,), own=200, child=403, sibling=403,
                                                     street2=403, dept=403, body={"email": "duty@nyl.example"}),
        ("GET", "/api/v1/audit/verify"): unscoped((R.ADMIN, R.ANALYST), 200),
    },
    "intake": {
        ("POST", "/api/v1/cases"): Row(roles=(), anon=OK, body={
            "channel": "self_service", "applicant": {"name": "张三", "phone": "13812345678"},
            "description": "楼上邻居家漏水把我家天花板泡坏了", "location": {"unit_code": OBJ}}),
        ("POST", "/api/v1/classify"): Row(roles=(), anon=200, body={"text": "拖欠工资三个月"}),
        ("GET", "/api/v1/categories"): PUBLIC,
        ("GET", "/api/v1/track/{tracking}"): Row(roles=(), anon=None, right=200, wrong=404),
        ("POST", "/api/v1/track/{tracking}/rating"): Row(roles=(), anon=None, right=409, wrong=404,
                                                         body={"score": 5}),
        ("GET", "/api/v1/track/{tracking}/qr"): PUBLIC,
        ("GET", "/api/v1/units/{unit}/qr"): PUBLIC,
        ("GET", "/"): HTML_PUBLIC, ("GET", "/submit"): HTML_PUBLIC, ("POST", "/submit"): Row(roles=(), anon=422),
        ("GET", "/track"): HTML_PUBLIC, ("GET", "/track/{tracking}"): HTML_PUBLIC,
        ("POST", "/track"): Row(roles=(), anon=None, right=200, wrong=404),
        # the right check: the page answers 200 and says the case cannot be rated yet
        ("POST", "/track/{tracking}/rate"): Row(roles=(), anon=None, right=200, wrong=404),
        ("GET", "/favicon.ico"): HTML_PUBLIC,
        ("GET", "/open311/v2/services.json"): PUBLIC,
        ("POST", "/open311/v2/requests.json"): Row(roles=(), anon=400),  # public; an empty request is refused
        ("GET", "/open311/v2/requests/{open311}.json"): Row(roles=(), anon=404),
    },
}

# mediation: the case routes are scoped like routing's (the work order's unit and the units above it);
# the routes keyed by another object are asked with an id nobody has (404 for every admitted role).
_MED_CASE = {
    ("GET", "/api/v1/cases/{assignment}"): scoped(WORKING),
    ("POST", "/api/v1/cases/{assignment}/parties/{party}/contact"): scoped(WORKING, body={"reason": "核实联系方式"}),
    ("POST", "/api/v1/cases/{assignment}/accept"): scoped(SUP, body={"kind": "people"}),
    ("POST", "/api/v1/cases/{assignment}/return"): scoped(SUP, body=REASON),
    ("POST", "/api/v1/cases/{assignment}/parties"): scoped(WORKING, body={"role": "respondent", "name": "李四"}),
    ("PUT", "/api/v1/cases/{assignment}/availability"): scoped(WORKING, body=lambda v: {
        "party_id": v["party_id"], "windows": [{"start": "2031-01-06T09:00:00+08:00",
                                                "end": "2031-01-06T12:00:00+08:00"}]}),
    # nobody is a mediator of the unit: the admitted roles of the case's units get 422 after the scope check
    ("POST", "/api/v1/cases/{assignment}/mediators"): scoped(SUP, body={"person_ids": ["nobody"]}),
    ("POST", "/api/v1/cases/{assignment}/invitations"): scoped(WORKING, body={"person_id": "nobody"}),
    ("GET", "/api/v1/cases/{assignment}/invitations"): scoped(WORKING),
    ("POST", "/api/v1/cases/{assignment}/sessions"): scoped(WORKING, body={
        "mode": "online", "starts_at": "2031-01-06T10:00:00+08:00", "ends_at": "2031-01-06T11:00:00+08:00"}),
    ("POST", "/api/v1/cases/{assignment}/calls"): scoped(WORKING, body=lambda v: {
        "kind": "lawyer", "party_id": v["party_id"]}),
    ("POST", "/api/v1/cases/{assignment}/agreement"): scoped(WORKING, body={
        "facts_zh": "楼上漏水致天花板受损", "terms": ["一次性支付10000元"]}),
    ("POST", "/api/v1/cases/{assignment}/judicial-confirmation"): scoped(WORKING, body={"court_zh": "金水区人民法院"}),
    ("POST", "/api/v1/cases/{assignment}/judicial-confirmation/answer"): scoped(WORKING,
                                                                                body={"confirmed": True}),
    ("POST", "/api/v1/cases/{assignment}/close"): scoped(WORKING, body={}),
    ("POST", "/api/v1/cases/{assignment}/fail"): scoped(WORKING, body={**REASON, "next": "escalate"}),
    # a mediator does not hand a case over (403 in every relation): the supervising roles do
    ("POST", "/api/v1/cases/{assignment}/transfer"): scoped(SUP, body={
        "to": "litigation", "receiving_body_zh": "金水区人民法院"}),
    ("POST", "/api/v1/cases/{assignment}/insurance-claims"): scoped(WORKING, body={
        "cover": "property_damage", "claimed_fen": 100000, "incident_at": "2031-01-05T10:00:00+08:00",
        "summary": "天花板被泡坏"}),
    ("GET", "/api/v1/cases/{assignment}/sessions"): scoped(WORKING),
}
_MED_OTHER = {k: unscoped(roles, 404, body=body) for k, roles, body in [
    (("POST", "/api/v1/invitations/{invitation}/answer"), WORKING, {"accept": True}),
    (("POST", "/api/v1/invitations/{invitation}/resend"), WORKING, None),
    (("POST", "/api/v1/sessions/{session}/end-call"), WORKING, None),
    (("GET", "/api/v1/sessions/{session}"), WORKING, None),
    (("POST", "/api/v1/sessions/{session}/turns"), WORKING, {"party_id": "p1", "statement": "同意"}),
    (("POST", "/api/v1/sessions/{session}/record"), WORKING, {"summary": "调解已进行", "next_step": "择日再调"}),
    (("POST", "/api/v1/agreements/{agreement}/confirmations"), WORKING, {"party_id": "p1", "method": "in_person"}),
    (("POST", "/api/v1/agreements/{agreement}/sign"), WORKING, None),
    (("GET", "/api/v1/agreements/{agreement}/pdf"), WORKING, None),
    (("GET", "/api/v1/agreements/{agreement}"), WORKING, None),
    (("GET", "/api/v1/packages/{package}"), WORKING, None),
    (("GET", "/api/v1/insurance-claims/{claim}"), WORKING, None),
    (("POST", "/api/v1/insurance-claims/{claim}/decision"), SUP, {"approve": False, **REASON}),
    (("POST", "/api/v1/insurance-claims/{claim}/dispute"), WORKING, REASON),
    (("POST", "/api/v1/insurance-claims/{claim}/review-decision"), SUP, {"approve": False, **REASON}),
    (("POST", "/api/v1/insurance-claims/{claim}/evaluation"), WORKING, {"satisfaction": 5}),
]}
# Every mediation write is asked with a body valid for its schema: a refusal by scope (404) cannot hide behind a
# 422 of the body. (MEDIATION_UNASKED listed 13 routes asked only anonymously and for roles not admitted.)
CONSOLE = Row(roles=(), anon=303)  # the console's pages send a stranger to its sign-in page
MATRIX["mediation"] = {
    **_MED_CASE, **_MED_OTHER,
    ("GET", "/api/v1/queue"): unscoped(WORKING, 200),  # always the caller's own unit's queue
    ("POST", "/api/v1/people"): unscoped((R.ADMIN, R.DISPATCHER), OK, body={"kind": "lawyer", "name": "李明"}),
    ("GET", "/api/v1/people"): unscoped(WORKING, 200),
    ("POST", "/api/v1/rooms"): unscoped((R.ADMIN, R.DISPATCHER), OK, body={"name_zh": "调解室一"}),
    ("GET", "/api/v1/verify/{sha256}"): Row(roles=(), anon=400),  # public; not a sha256: refused as such
    ("POST", "/api/v1/verify"): Row(roles=(), anon=400),  # public; no document given: refused as such
    ("GET", "/api/v1/insurance-claims-stats"): unscoped((*SUP, R.ANALYST), OK,  # the caller's unit's figures
                                                       params={"year": "2026"}),
    ("GET", "/api/v1/audit/verify"): unscoped((R.ADMIN, R.ANALYST), 200),
    ("GET", "/api/v1/rooms"): unscoped(WORKING, 200),
    ("GET", "/api/v1/insurance-claims"): unscoped(WORKING, 200),
    ("GET", "/console"): Row(roles=(), anon=301),  # the pages moved to the console service (issue 16)
    ("GET", "/console/{path:path}"): Row(roles=(), anon=301),
    ("GET", "/invite"): HTML_PUBLIC,
    ("GET", "/invite/{code}"): Row(roles=(), anon=200),  # public: the page asks for the phone digits first
    ("POST", "/invite"): Row(roles=(), anon=OK), ("POST", "/invite/answer"): Row(roles=(), anon=OK),
}
OPS = {("GET", "/health"): PUBLIC, ("GET", "/livez"): PUBLIC, ("GET", "/metrics"): PUBLIC,
       ("GET", "/openapi.json"): DOCS, ("GET", "/docs"): DOCS, ("GET", "/docs/oauth2-redirect"): DOCS,
       ("GET", "/redoc"): DOCS}
for _rows in MATRIX.values():
    _rows.update(OPS)


# --- the running services and their objects -----------------------------------------------------------------


def route_table(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the app answers, from FastAPI's own route table."""
    out: list[tuple[str, str]] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            if type(r).__name__ == "_IncludedRouter":
                walk(r.effective_candidates())
                continue
            inner = getattr(r, "starlette_route", None) or getattr(r, "original_route", None) or r
            path = getattr(r, "path", None) or getattr(inner, "path", None)
            methods = getattr(inner, "methods", None) or getattr(r, "methods", None) or set()
            for m in sorted(set(methods) - {"HEAD"}):
                out.append((m, path))

    walk(app.routes)
    return out


def shape(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", "{}", path)


@dataclass
class Services:
    apps: dict[str, Any]
    values: dict[str, dict[str, str]]  # per service: path parameter → the object's id
    right: str = "5678"


def fill(path: str, values: dict[str, str]) -> str:
    import re

    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "nobody-here"), path)


def token(relation: str, role: R) -> dict[str, str]:
    unit = {**RELATIONS, **DISTRICT}[relation]
    tok = TokenIssuer.dev().issue(staff_id=f"m-{relation}-{role.value}", unit=unit, role=role,
                                  unit_path=PATHS[unit], mfa=role is R.ADMIN)
    return {"Authorization": f"Bearer {tok}"}


@pytest.fixture(scope="module")
async def services(yima_infra):
    from contextlib import AsyncExitStack

    from yima_intake.app import create_app as intake_app
    from yima_intake.config import IntakeSettings
    from yima_mediation.app import create_app as mediation_app
    from yima_mediation.config import MediationSettings
    from yima_notify.app import create_app as notify_app
    from yima_notify.config import NotifySettings
    from yima_risk.app import create_app as risk_app
    from yima_risk.config import RiskSettings
    from yima_routing.app import create_app as routing_app
    from yima_routing.config import RoutingSettings

    common = {"kafka_bootstrap": yima_infra.kafka_bootstrap, "mongo_url": yima_infra.mongo_url}

    def prefix() -> dict[str, str]:
        return {"mongo_db_prefix": f"m{uuid.uuid4().hex[:8]}_"}

    apps = {
        "routing": routing_app(RoutingSettings(**common, **prefix()), consume=False, relay=False, sweep=False),
        "risk": risk_app(RiskSettings(**common, **prefix()), consume=False, relay=False),
        "notify": notify_app(NotifySettings(**common, **prefix()), consume=False, relay=False, worker=False),
        "intake": intake_app(IntakeSettings(**common, **prefix(), submit_rate_per_minute=100000,
                                            notify_url=""), consume=False, relay=False),
        "mediation": mediation_app(MediationSettings(**common, **prefix(), prefetch_font=False), consume=False,
                                   relay=False),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield Services(apps, await make_objects(apps))


async def routed_case(routing: Any, db: Any, number: str, description: str) -> tuple[CaseSubmitted, dict[str, Any]]:
    """A case of 农业路社区 through routing's own handlers: assigned by its rules, supervised by the street."""
    case_id = f"c-{uuid.uuid4().hex[:12]}"
    sub = CaseSubmitted(
        case_id=case_id, correlation_id=case_id, case_number=number, tracking_code="ABCDEFGHJKMN",
        channel=Channel.SELF_SERVICE, category=Category.NEIGHBOUR, category_source="applicant",
        description=description, applicant=Party(name="张三", phone="13812345678"),
        location=Location(unit_code=OBJ), submitted_at=datetime.now(UTC))
    await routing.run(lambda tx: routing.on_submitted(sub, tx))
    await routing.run(lambda tx: routing.on_risk_assessed(CaseRiskAssessed(
        case_id=case_id, correlation_id=case_id, level="blue", score=1, ruleset_version="t", reason_zh="测试"), tx))
    case = await db["cases"].find_one({"_id": case_id})
    a = await db["assignments"].find_one({"_id": case["assigned"]})
    assert (a["unit_code"], a["supervisor_unit_code"]) == (OBJ, STREET), "the matrix assumes this assignment"
    return sub, a


async def make_objects(apps: dict[str, Any]) -> dict[str, dict[str, str]]:
    now = datetime.now(UTC)
    routing = apps["routing"].state.service
    db = apps["routing"].state.runtime.db
    sub, a = await routed_case(routing, db, "JSQ-2026-990001", "楼上邻居家漏水，把我家天花板泡坏了")
    case_id = sub.case_id
    # a second case for the escalation (提级 moves it up: the first case keeps its unit for the other cells)
    _, to_escalate = await routed_case(routing, db, "JSQ-2026-990002", "邻居装修噪音扰民，多次沟通无果")
    # risk: the same case, and where it sits
    risk_rt, risk = apps["risk"].state.runtime, apps["risk"].state.service
    assigned = CaseAssigned(case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code=OBJ,
                            unit_name="农业路社区", supervisor_unit_code=STREET, supervisor_unit_name="丰产路街道",
                            category=Category.NEIGHBOUR, risk_level=RiskLevel.BLUE, rule_id="r", reason_zh="属地",
                            due_at=now + timedelta(days=5), unit_path=PATHS[OBJ], supervisor_unit_path=PATHS[STREET],
                            location_unit_path=PATHS[OBJ])
    await risk_rt.consumers.process_once(sub, risk.on_submitted, "m.risk.submitted")
    await risk_rt.consumers.process_once(assigned, risk.on_assigned, "m.risk.assigned")
    # a red case whose 包案领导 is the street's leader (the matrix token m-child-leader): the visits' object
    red_id = f"c-{uuid.uuid4().hex[:12]}"
    red = sub.model_copy(update={"case_id": red_id, "correlation_id": red_id, "event_id": uuid.uuid4(),
                                 "description": "对方扬言要拿刀杀了我全家，昨天已经把我打伤住院"})
    await risk_rt.consumers.process_once(red, risk.on_submitted, "m.risk.submitted")
    await risk_rt.consumers.process_once(LeaderAssigned(
        case_id=red_id, correlation_id=red_id, leader_staff_id="m-child-leader", leader_name="王强",
        unit_code=STREET), risk.on_leader_assigned, "m.risk.leader")
    assert (await risk.repo.case(red_id))["ever_red"], "the matrix assumes a red case"
    # notify: the applicant's inbox for the same tracking code
    notify_rt, notify = apps["notify"].state.runtime, apps["notify"].state.service
    await notify_rt.consumers.process_once(sub, notify.on_submitted, "m.notify.submitted")
    # intake: a case of its own (its tracking code is the applicant's)
    async with client(apps["intake"]) as http:
        made = await http.post("/api/v1/cases", json=MATRIX["intake"][("POST", "/api/v1/cases")].body)
        assert made.status_code == 201, made.text
        tracking = made.json()["tracking_code"]
    # mediation: the community's work order, with its applicant as a party
    med = apps["mediation"].state.service
    order = UnitCaseAssigned(
        case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code=OBJ, unit_name="农业路社区",
        unit_path=PATHS[OBJ], in_platform=True, case_number="JSQ-2026-990001", channel=Channel.SELF_SERVICE,
        category=Category.NEIGHBOUR, risk_level=RiskLevel.BLUE, description=sub.description,
        applicant=sub.applicant, location=sub.location, supervisor_unit_code=STREET,
        supervisor_unit_name="丰产路街道", due_at=now + timedelta(days=5))
    assert await med.ingest(order, apps["mediation"].state.runtime.consumers)
    async with client(apps["mediation"]) as http:
        view = (await http.get(f"/api/v1/cases/{a['_id']}", headers=token("own", R.DISPATCHER))).json()
    party = view["parties"][0]["party_id"]
    return {
        "routing": {"code": OBJ, "staff_id": f"{OBJ}-02", "object_id": OBJ, "day": date(2031, 1, 2).isoformat(),
                    "case_id": case_id, "assignment_id": a["_id"], "joint_id": "nobody-here",
                    "escalate_assignment_id": to_escalate["_id"],
                    "rules_json": json.dumps(routing.rules.model_dump(mode="json") | {"version": "matrix-dry-run"})},
        "risk": {"case_id": case_id, "red_case_id": red_id},
        "notify": {"tracking_code": "ABCD-EFGH-JKMN", "unit_code": OBJ},
        "intake": {"tracking_code": tracking, "code": tracking, "unit_code": OBJ},
        "mediation": {"assignment_id": a["_id"], "party_id": party, "aid": a["_id"], "action": "accept"},
    }


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc", follow_redirects=False)


# --- the suite ------------------------------------------------------------------------------------------------

SERVICES = ("routing", "risk", "notify", "intake", "mediation")


@pytest.mark.parametrize("name", SERVICES)
async def test_every_route_has_a_row_in_the_matrix(services, name) -> None:
    rows = {(m, shape(p)) for m, p in MATRIX[name]}
    missing = [f"{m} {p}" for m, p in route_table(services.apps[name]) if (m, shape(p)) not in rows]
    assert not missing, f"{name}: routes without a row in the authorization matrix: {missing}"
    gone = {(m, shape(p)) for m, p in route_table(services.apps[name])}
    assert not [k for k in MATRIX[name] if (k[0], shape(k[1])) not in gone], "rows for routes that do not exist"


def run_order(item: tuple[tuple[str, str], Row]) -> int:
    """Reads first; the writes that move the case away from its unit last (return, then the dispatch back)."""
    (method, path), _ = item
    return 2 if path.endswith("/return") else 3 if path.endswith("/dispatch") else 0 if method == "GET" else 1


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A small valid value for a JSON schema of the service's OpenAPI (the required fields only)."""
    if "$ref" in schema:
        return example(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], spec)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return example(options[0], spec)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(props[k], spec) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [example(schema.get("items", {}), spec) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2031-01-06T10:00:00+08:00"
    if schema.get("format") == "date":
        return "2031-01-06"
    return "授权矩阵测试内容" * max(1, schema.get("minLength", 1) // 8 + 1)


def body_for(app: Any, method: str, path: str) -> dict[str, Any] | None:
    spec = app.openapi()
    op = spec.get("paths", {}).get(path, {}).get(method.lower(), {})
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    return example(content["schema"], spec) if content else None


BODY_REFUSED = -422  # a 422 for the body's schema (the kit's "提交的内容有误"), not for the object's state


def matches(expected: Any, status: int) -> bool:
    if status == BODY_REFUSED:  # an OK or DONE cell never passes on a body the schema refuses
        return bool(expected == 422)
    if expected == OK:
        return status < 300 or status in (409, 422)
    if expected == DONE:
        return status < 300 or status == 409
    return status == expected


async def ask(http: httpx.AsyncClient, method: str, path: str, row: Row, headers: dict[str, str],
              params: dict[str, str] | None = None, values: dict[str, str] | None = None) -> int:
    kw: dict[str, Any] = {"headers": headers, "params": {**row.params, **(params or {})}}
    if row.body is not None and method in ("POST", "PUT"):
        kw["json"] = row.body(values or {}) if callable(row.body) else row.body
    if path.startswith(("/console/", "/invite", "/submit", "/track")) and method == "POST":
        kw.pop("json", None)
        kw["data"] = {"code": (params or {}).get("code", ""), "check": (params or {}).get("check", "")}
    r = await http.request(method, path, **kw)
    if r.status_code == 422 and r.headers.get("content-type", "").startswith("application/json") \
            and r.json().get("message") == INVALID_BODY_ZH:
        return BODY_REFUSED
    return r.status_code


@pytest.mark.parametrize("name", SERVICES)
async def test_every_cell_answers_as_written(services, name) -> None:
    app, values = services.apps[name], services.values[name]
    wrong: list[str] = []
    async with client(app) as http:
        for (method, template), row in sorted(MATRIX[name].items(), key=run_order):
            real = next(p for m, p in route_table(app) if m == method and shape(p) == shape(template))
            path = fill(real, {**values, **{p: values[k] for p, k in row.use.items()}})
            if name == "mediation" and method in ("POST", "PUT") and row.body is None \
                    and (made := body_for(app, method, real)):
                row = Row(**{**row.__dict__, "body": made})  # a valid body: the answer is about who asks
            if row.right is not None:  # the applicant's routes: the tracking code with the right or a wrong check
                for label, check, want in (("right", services.right, row.right), ("wrong", "0000", row.wrong)):
                    params = {"check": check, "code": values.get("tracking_code", "")}
                    if method == "POST" and row.body is not None and not path.startswith("/track"):
                        row = Row(**{**row.__dict__, "body": {**row.body, "check": check}})
                    got = await ask(http, method, path, row, {}, params if method == "GET" or
                                    path.startswith("/track") else None)
                    if not matches(want, got):
                        wrong.append(f"{method} {template} applicant/{label}: {got}, expected {want}")
                continue
            if row.anon is not None:
                got = await ask(http, method, path, row, {}, values=values)
                if not matches(row.anon, got):
                    wrong.append(f"{method} {template} anonymous: {got}, expected {row.anon}")
            if not row.roles:
                continue
            for relation in (*RELATIONS, *(DISTRICT if row.district is not None else ())):
                for role in ALL:
                    cell = getattr(row, relation)
                    want = 403 if role not in row.roles else (cell[role] if isinstance(cell, dict) else cell)
                    got = await ask(http, method, path, row, token(relation, role), values=values)
                    if not matches(want, got):
                        wrong.append(f"{method} {template} {role.value}@{relation}: {got}, expected {want}")
    assert not wrong, f"{name}: {len(wrong)} cells answer otherwise:\n" + "\n".join(wrong)
