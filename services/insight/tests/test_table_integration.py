"""A known set of events through the real broker into insight's consumers: the one table's exact counts for
every grouping, scoped by the viewer, the cases behind a number, the check and the replay."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseFeedback,
    CaseRated,
    CaseRiskAssessed,
    CaseSubmitted,
    CaseTransferred,
    Event,
    MediationConcluded,
    Party,
    SupervisionNotice,
    UnitCaseAssigned,
    topics,
)
from yima_contracts.codes import Category, Channel, FeedbackKind, Outcome, RiskLevel, StaffRole, SupervisionStep
from yima_contracts.events import Location
from yima_contracts.risk_events import WarningRaised
from yima_insight.adapters import rebuild
from yima_insight.app import create_app
from yima_insight.config import InsightSettings
from yima_kit.auth import TokenIssuer
from yima_kit.kafka_admin import ensure_topics
from yima_kit.kafka_auth import client_kwargs

pytestmark = pytest.mark.integration

# A district of our own (codes no other test uses), so the figures are ours alone on a shared broker.
D = f"9{random.randrange(10**5):05d}"
S1, S2 = D + "001", D + "002"
C11, C12, C21 = S1 + "001", S1 + "002", S2 + "001"
DEP = f"T{uuid.uuid4().hex[:8].upper()}"
PATHS = {S1: (D, S1), C11: (D, S1, C11), C12: (D, S1, C12), C21: (D, S2, C21), DEP: (D, DEP)}
NAMES = {D: "测试区", S1: "一街道", S2: "二街道", C11: "甲社区", C12: "乙社区", C21: "丙社区", DEP: "测试区人社局"}
T = datetime(2031, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 CST
H = timedelta(hours=1)


class Story:
    """Events of the scenario, each with the topic it travels on."""

    def __init__(self) -> None:
        self.out: list[tuple[str, Event]] = []
        self.ids: dict[str, str] = {}

    def cid(self, name: str) -> str:
        return self.ids.setdefault(name, f"it-{name}-{uuid.uuid4().hex[:10]}")

    def c(self, name: str, at: datetime) -> dict[str, Any]:
        case_id = self.cid(name)
        return {"case_id": case_id, "correlation_id": f"corr-{case_id}", "occurred_at": at}

    def add(self, topic: str, e: Event) -> None:
        self.out.append((topic, e))

    def submit(self, k: str, ch: Channel, cat: Category, at: datetime = T, unit: str = C11, **kw: Any) -> None:
        self.add(topics.CASE_SUBMITTED, CaseSubmitted(
            **self.c(k, at), case_number=f"JSQ-2031-{k}", tracking_code="ABCD-EFGH-JKLM", channel=ch, category=cat,
            category_source="applicant", description="纠纷", applicant=Party(name="张三", phone="13812345678"),
            location=Location(unit_code=unit), submitted_at=at, **kw))

    def risk(self, k: str, level: RiskLevel, at: datetime) -> None:
        self.add(topics.CASE_RISK_ASSESSED, CaseRiskAssessed(**self.c(k, at), level=level, score=1,
                                                             ruleset_version="t", reason_zh="规则"))

    def assign(self, k: str, unit: str, at: datetime, aid: str, *, platform: bool = False,
               level: RiskLevel = RiskLevel.BLUE, cat: Category = Category.NEIGHBOUR) -> None:
        sup = PATHS[unit][-2]
        common = {"assignment_id": aid, "unit_code": unit, "supervisor_unit_code": sup,
                  "supervisor_unit_name": NAMES[sup], "category": cat, "risk_level": level, "due_at": at + 10 * H}
        self.add(topics.CASE_ASSIGNED, CaseAssigned(**self.c(k, at), **common, unit_name=NAMES[unit], rule_id="r",
                                                    reason_zh="属地"))
        self.add(topics.unit_topic(unit), UnitCaseAssigned(
            **self.c(k, at), **common, unit_name=NAMES[unit], unit_path=list(PATHS[unit]), in_platform=platform,
            case_number=f"JSQ-2031-{k}", channel=Channel.SELF_SERVICE, description="纠纷",
            applicant=Party(name="张三", phone="13812345678"), location=Location(unit_code=unit)))

    def feedback(self, k: str, unit: str, kind: FeedbackKind, at: datetime, aid: str,
                 topic: str = topics.CASE_FEEDBACK) -> None:
        self.add(topic, CaseFeedback(
            **self.c(k, at), assignment_id=aid, unit_code=unit, kind=kind,
            reason="分歧大" if kind is FeedbackKind.FAILED else None))

    def concluded(self, k: str, unit: str, ok: bool, at: datetime) -> None:
        self.add(topics.MEDIATION_CONCLUDED, MediationConcluded(
            **self.c(k, at), success=ok, unit_code=unit, reason_zh="" if ok else "不同意", applicant_message_zh="x"))

    def closed(self, k: str, unit: str, ok: bool, at: datetime, outcome: Outcome = Outcome.AGREEMENT) -> None:
        self.add(topics.CASE_CLOSED, CaseClosed(**self.c(k, at), outcome=outcome, unit_code=unit, resolved=ok,
                                                applicant_message_zh="x"))

    def rated(self, k: str, score: int, at: datetime) -> CaseRated:
        e = CaseRated(**self.c(k, at), score=score, rated_at=at)
        self.add(topics.CASE_RATED, e)
        return e

    def notice(self, k: str, unit: str, step: SupervisionStep, at: datetime) -> None:
        self.add(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            **self.c(k, at), assignment_id=f"{k}-a1", step=step, unit_code=unit, supervisor_unit_code=PATHS[unit][-2],
            due_at=at, message_zh="督办"))


def scenario() -> Story:
    s = Story()
    N, LW = Category.NEIGHBOUR, Category.LABOUR_WAGES
    # k1: a community settles it; rated 5 (the rating is delivered twice: counted once)
    s.submit("k1", Channel.SELF_SERVICE, N)
    s.risk("k1", RiskLevel.BLUE, T + H)
    s.assign("k1", C11, T + H, "k1-a1")
    s.feedback("k1", C11, FeedbackKind.ACCEPTED, T + 2 * H, "k1-a1")
    s.feedback("k1", C11, FeedbackKind.RESOLVED, T + 3 * H, "k1-a1", topic=topics.unit_feedback_topic(C11))
    s.add(topics.CASE_RATED, s.rated("k1", 5, T + 4 * H))  # the same event twice
    # k2: mediation fails in the community (in yima's console), the street settles it; rated 3
    s.submit("k2", Channel.GRID, N)
    s.risk("k2", RiskLevel.YELLOW, T + H)
    s.assign("k2", C11, T + H, "k2-a1", platform=True, level=RiskLevel.YELLOW)
    s.feedback("k2", C11, FeedbackKind.ACCEPTED, T + 2 * H, "k2-a1")
    s.concluded("k2", C11, False, T + 3 * H)
    s.assign("k2", S1, T + 4 * H, "k2-a2", level=RiskLevel.YELLOW)
    s.feedback("k2", S1, FeedbackKind.RESOLVED, T + 5 * H, "k2-a2")
    s.closed("k2", S1, True, T + 6 * H)
    s.rated("k2", 3, T + 7 * H)
    # k3: red wage case at a department: overdue twice pressed, fails, goes to court
    s.submit("k3", Channel.HOTLINE_12345, LW)
    s.risk("k3", RiskLevel.RED, T + H)
    s.assign("k3", DEP, T + H, "k3-a1", level=RiskLevel.RED, cat=LW)
    s.notice("k3", DEP, SupervisionStep.NOTICE, T + 2 * H)
    s.notice("k3", DEP, SupervisionStep.SECOND_NOTICE, T + 3 * H)
    s.feedback("k3", DEP, FeedbackKind.FAILED, T + 4 * H, "k3-a1")
    s.add(topics.CASE_TRANSFERRED, CaseTransferred(
        **s.c("k3", T + 5 * H), to="litigation", unit_code=DEP, receiving_body_zh="法院", file_package_sha256="0" * 64,
        applicant_message_zh="x"))
    s.closed("k3", DEP, False, T + 6 * H, Outcome.LITIGATION)
    # k4: red, then yellow; accepted; a warning before the deadline is no 督办
    s.submit("k4", Channel.RECEPTION, LW, unit=C21)
    s.risk("k4", RiskLevel.RED, T + H)
    s.risk("k4", RiskLevel.YELLOW, T + 2 * H)
    s.assign("k4", C21, T + 2 * H, "k4-a1", level=RiskLevel.YELLOW, cat=LW)
    s.feedback("k4", C21, FeedbackKind.ACCEPTED, T + 3 * H, "k4-a1")
    s.notice("k4", C21, SupervisionStep.WARNING, T + 4 * H)
    # k5: assigned, nothing else (level from the assignment)
    s.submit("k5", Channel.SELF_SERVICE, Category.PROPERTY_MANAGEMENT, unit=C12)
    s.assign("k5", C12, T + H, "k5-a1", cat=Category.PROPERTY_MANAGEMENT)
    # k6: settled on the spot at reception (代办), in its community
    s.submit("k6", Channel.PROXY, N, settled_on_spot=True)
    s.risk("k6", RiskLevel.BLUE, T + H)
    # k7: next month
    t7 = datetime(2031, 4, 2, 1, 0, tzinfo=UTC)
    s.submit("k7", Channel.SELF_SERVICE, N, at=t7, unit=C12)
    s.risk("k7", RiskLevel.BLUE, t7 + H)
    s.assign("k7", C12, t7 + H, "k7-a1")
    s.feedback("k7", C12, FeedbackKind.RESOLVED, t7 + 2 * H, "k7-a1")
    s.closed("k7", C12, True, t7 + 3 * H)
    s.rated("k7", 4, t7 + 4 * H)
    # k8: the next day, mediation in yima's console fails
    t8 = T + 24 * H
    s.submit("k8", Channel.GRID, Category.MARRIAGE_FAMILY, at=t8, unit=C21)
    s.risk("k8", RiskLevel.BLUE, t8 + H)
    s.assign("k8", C21, t8 + H, "k8-a1", platform=True, cat=Category.MARRIAGE_FAMILY)
    s.feedback("k8", C21, FeedbackKind.ACCEPTED, t8 + 2 * H, "k8-a1")
    s.concluded("k8", C21, False, t8 + 3 * H)
    # an early warning at C11 (neighbour disputes cluster): counted in its cell of the heat table, listed
    s.add(topics.WARNING_RAISED, WarningRaised(
        **s.c("k2", T + 8 * H), warning_id=f"W-{s.cid('k2')}", kind="place_cluster", category=N, unit_code=C11,
        case_ids=[s.cid("k1"), s.cid("k2")], window_days=7, threshold=2, message_zh="甲社区7天内2起邻里纠纷",
        chain_unit_codes=[C11, S1, D]))
    return s


def token(unit: str, path: tuple[str, ...], role: StaffRole = StaffRole.LEADER) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=f"s-{unit}", unit=unit, role=role, unit_path=path)
    return {"Authorization": f"Bearer {t}"}


def slim(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of a row that the scenario fixes."""
    return {"received": r["received"], "accepted": r["accepted"], "closed": r["closed"], "resolved": r["resolved"],
            "failed": r["failed"], "transferred": r["transferred"],
            "success": (r["success_rate"]["num"], r["success_rate"]["den"]),
            "levels": (r["settled_at_level"]["community"], r["settled_at_level"]["street"],
                       r["settled_at_level"]["district"]),
            "overdue": r["overdue"], "notices": r["supervision_notices"],
            "rated": (r["satisfaction"]["rated"], r["satisfaction"]["avg"]), "rgb": (r["red"], r["yellow"], r["blue"])}


def row(received: int, accepted: int = 0, closed: int = 0, resolved: int = 0, failed: int = 0, transferred: int = 0,
        success: tuple[int, int] = (0, 0), levels: tuple[int, int, int] = (0, 0, 0), overdue: int = 0,
        notices: int = 0, rated: tuple[int, float | None] = (0, None), rgb: tuple[int, int, int] = (0, 0, 0)
        ) -> dict[str, Any]:
    return {"received": received, "accepted": accepted, "closed": closed, "resolved": resolved, "failed": failed,
            "transferred": transferred, "success": success, "levels": levels, "overdue": overdue,
            "notices": notices, "rated": rated, "rgb": rgb}


TOTAL = row(8, 6, 5, 4, 1, 1, (3, 5), (3, 1, 0), 1, 2, (3, 4.0), (1, 2, 5))
BY_UNIT = {S1: row(5, 4, 4, 4, success=(3, 3), levels=(3, 1, 0), rated=(3, 4.0), rgb=(0, 1, 4)),
           S2: row(2, 2, failed=1, success=(0, 1), rgb=(0, 1, 1)),
           DEP: row(1, closed=1, transferred=1, success=(0, 1), overdue=1, notices=2, rgb=(1, 0, 0))}
MODES = {"own_system": 6, "platform": 1, "on_spot": 1}
RANGE = {"from": "2031-03-01", "to": "2031-04-30"}


async def wait_table(client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str],
                     done: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        res = await client.get("/api/v1/table", params=params, headers=headers)
        assert res.status_code == 200, res.text
        body = res.json()
        if done(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


@pytest.fixture
def settings(yima_infra, mongo_db_prefix) -> InsightSettings:
    return InsightSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                           mongo_db_prefix=mongo_db_prefix, kafka_metadata_max_age_seconds=1, report_schedule=False)


async def test_the_one_table_counts_a_known_story_exactly(settings: InsightSettings, mongo_db_prefix: str) -> None:
    story = scenario()
    await ensure_topics(settings.kafka_bootstrap, {t for t, _ in story.out})
    app = create_app(settings, consume=True, relay=False)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True,
                                **client_kwargs(settings.kafka_auth))
    async with app.router.lifespan_context(app):
        await producer.start()
        try:
            for topic, e in story.out:
                await producer.send_and_wait(topic, e.model_dump_json().encode(), key=e.case_id.encode())
        finally:
            await producer.stop()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://insight") as client:
            top = token(D, (D,))
            await wait_table(client, top, {**RANGE, "by": "mode", "unit": D},
                             lambda b: {r["key"]: r["received"] for r in b["rows"]} == MODES)
            body = await wait_table(client, top, {**RANGE, "by": "unit", "unit": D},
                                    lambda b: slim(b["totals"]) == TOTAL
                                    and {r["key"]: slim(r) for r in b["rows"]} == BY_UNIT)
            assert slim(body["totals"]) == TOTAL
            assert {r["key"]: slim(r) for r in body["rows"]} == BY_UNIT
            assert {r["key"]: r["name"] for r in body["rows"]} == {S1: "一街道", S2: "二街道", DEP: "测试区人社局"}
            assert body["totals"]["success_rate"] == {"num": 3, "den": 5, "value": 0.6}
            assert body["totals"]["satisfaction"]["satisfied_share"] == 0.6667
            assert body["as_of"]

            async def table(by: str, unit: str = D, headers: dict[str, str] = top, **kw: str) -> dict[str, Any]:
                res = await client.get("/api/v1/table", params={**RANGE, "by": by, "unit": unit, **kw},
                                       headers=headers)
                assert res.status_code == 200, res.text
                return res.json()

            def received(b: dict[str, Any]) -> dict[str, int]:
                return {r["key"]: r["received"] for r in b["rows"]}

            assert received(await table("category")) == {"neighbour": 4, "labour_wages": 2,
                                                         "property_management": 1, "marriage_family": 1}
            assert received(await table("channel")) == {"self_service": 3, "grid": 2, "hotline_12345": 1,
                                                        "reception": 1, "proxy": 1}
            levels = await table("level")
            assert received(levels) == {"blue": 5, "yellow": 2, "red": 1}
            assert {r["key"]: r["name"] for r in levels["rows"]} == {"blue": "蓝", "yellow": "黄", "red": "红"}
            months = await table("month")
            assert received(months) == {"2031-03": 7, "2031-04": 1}
            assert [r["key"] for r in months["rows"]] == ["2031-03", "2031-04"]
            assert received(await table("mode")) == MODES
            one_day = await table("category", **{"from": "2031-03-10", "to": "2031-03-10"})
            assert one_day["totals"]["received"] == 6
            # every grouping adds up to the same totals
            for by in ("category", "channel", "level", "month", "mode"):
                assert slim((await table(by))["totals"]) == TOTAL, by

            # a street sees its communities (and what it handles itself), an analyst reads, others are refused
            street = token(S1, (D, S1), StaffRole.DISPATCHER)
            mine = await table("unit", unit=S1, headers=street)
            assert received(mine) == {C11: 2, C12: 2, S1: 1}
            assert {r["key"]: r["name"] for r in mine["rows"]}[S1] == "一街道（本级）"
            default = await client.get("/api/v1/table", params={**RANGE, "by": "unit"}, headers=street)
            assert received(default.json()) == {C11: 2, C12: 2, S1: 1}
            other = await client.get("/api/v1/table", params={**RANGE, "unit": S1},
                                     headers=token(S2, (D, S2), StaffRole.LEADER))
            assert other.status_code == 403
            dept = await client.get("/api/v1/table", params={**RANGE, "by": "category"},
                                    headers=token(DEP, (D, DEP), StaffRole.ANALYST))
            assert dept.status_code == 200 and received(dept.json()) == {"labour_wages": 1}
            assert (await client.get("/api/v1/table", params=RANGE)).status_code == 401
            bad = await client.get("/api/v1/table", params={"from": "2031-04-01", "to": "2031-03-01"}, headers=top)
            assert bad.status_code == 422 and "结束日期" in bad.json()["detail"]
            assert (await client.get("/api/v1/table", params={**RANGE, "by": "colour"}, headers=top)).status_code == 422

            # the cases behind a number
            res = await client.get("/api/v1/cases", params={**RANGE, "unit": D, "by": "unit", "key": S2,
                                                            "measure": "failed"}, headers=top)
            assert res.status_code == 200
            assert [c["case_number"] for c in res.json()["cases"]] == ["JSQ-2031-k8"]
            res = await client.get("/api/v1/cases", params={**RANGE, "unit": D, "by": "category",
                                                            "key": "neighbour", "measure": "resolved"}, headers=top)
            assert sorted(c["case_number"] for c in res.json()["cases"]) == ["JSQ-2031-k1", "JSQ-2031-k2",
                                                                           "JSQ-2031-k6", "JSQ-2031-k7"]
            assert "applicant" not in res.text and "张三" not in res.text

            # ranking, heat, trend
            rank = (await client.get("/api/v1/ranking", params={**RANGE, "unit": D}, headers=top)).json()
            s1 = rank["rows"][0]
            assert s1["key"] == S1 and s1["rank"] == 1
            assert s1["targets"]["community"]["num"] == 3 and s1["targets"]["community"]["den"] == 4
            heat = (await client.get("/api/v1/heat", params={**RANGE, "unit": S1}, headers=street)).json()
            assert {(c["unit"], c["category"]): (c["received"], c["warnings"]) for c in heat["cells"]} == {
                (C11, "neighbour"): (2, 1), (C12, "property_management"): (1, 0), (C12, "neighbour"): (1, 0),
                (S1, "neighbour"): (1, 0)}
            warned = (await client.get("/api/v1/warnings", params=RANGE, headers=street)).json()
            assert warned["total"] == 1 and warned["warnings"][0]["place_name"] == NAMES[C11]
            assert "case_ids" not in warned["warnings"][0]
            s2_view = token(S2, (D, S2))
            assert (await client.get("/api/v1/warnings", params=RANGE, headers=s2_view)).json()["total"] == 0
            trend = (await client.get("/api/v1/risk-trend", params={**RANGE, "unit": D, "gran": "m"},
                                      headers=top)).json()
            assert [(p["period"], p["red"], p["yellow"], p["blue"]) for p in trend["points"]] == [
                ("2031-03", 1, 2, 4), ("2031-04", 0, 0, 1)]
            xlsx = await client.get("/api/v1/reports/monthly.xlsx", params={"date": "2031-03-15", "unit": D},
                                    headers=top)
            assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"

    # the check recounts from the topics and agrees; a replay into a fresh database gives the same table
    checked = await rebuild.check(settings, scope=D, events_per_slice=15)  # several slices of cases
    assert checked["ok"], {k: v for k, v in checked.items() if k != "first"} | {"first": checked["first"][:3]}
    fresh = settings.model_copy(update={"mongo_db_prefix": mongo_db_prefix + "r_"})
    for _ in range(2):  # into an empty state (written in place), then over the rebuilt one (renamed onto it)
        result = await rebuild.replay(fresh, commit_offsets=False, events_per_slice=15)
        assert result["cases"] >= 8 and result["slices"] > 2 and result["most_events_in_a_slice"] < result["events"]
        await _same_table(fresh)


async def _same_table(fresh: InsightSettings) -> None:
    app2 = create_app(fresh, consume=False, relay=False)
    async with app2.router.lifespan_context(app2):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app2), base_url="http://insight") as client:
            res = await client.get("/api/v1/table", params={**RANGE, "by": "unit", "unit": D}, headers=token(D, (D,)))
            assert slim(res.json()["totals"]) == TOTAL
            assert {r["key"]: slim(r) for r in res.json()["rows"]} == BY_UNIT
            warned = await client.get("/api/v1/warnings", params={**RANGE, "unit": D}, headers=token(D, (D,)))
            assert warned.json()["total"] == 1  # rebuilt too
            res = await client.get("/api/v1/cases", params={**RANGE, "unit": D, "by": "unit", "key": S2,
                                                            "measure": "failed"}, headers=token(D, (D,)))
            assert [c["case_number"] for c in res.json()["cases"]] == ["JSQ-2031-k8"]
