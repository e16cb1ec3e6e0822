"""Event builders for insight's tests (one place, so the tests read as stories)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseFeedback,
    CaseRated,
    CaseRiskAssessed,
    CaseSubmitted,
    CaseTransferred,
    MediationConcluded,
    Party,
    SupervisionNotice,
    UnitCaseAssigned,
)
from yima_contracts.codes import Category, Channel, FeedbackKind, Outcome, RiskLevel, SupervisionStep
from yima_contracts.events import Location

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Zhengzhou
DISTRICT, STREET, COMMUNITY, COMMUNITY2 = "410105", "410105001", "410105001001", "410105001002"
STREET2, COMMUNITY3 = "410105002", "410105002001"
COMMITTEE = "JSQ-LDTJ"
PATHS = {
    COMMUNITY: (DISTRICT, STREET, COMMUNITY), COMMUNITY2: (DISTRICT, STREET, COMMUNITY2),
    STREET: (DISTRICT, STREET), COMMUNITY3: (DISTRICT, STREET2, COMMUNITY3), COMMITTEE: (DISTRICT, COMMITTEE),
    DISTRICT: (DISTRICT,),
}
NAMES = {DISTRICT: "金水区矛调中心", STREET: "经八路街道", COMMUNITY: "黄河社区", COMMUNITY2: "文化社区",
         STREET2: "花园路街道", COMMUNITY3: "花园社区", COMMITTEE: "金水区劳动争议人民调解委员会"}


def common(case_id: str, at: datetime) -> dict:
    return {"case_id": case_id, "correlation_id": f"corr-{case_id}", "occurred_at": at}


def submitted(case_id: str, *, at: datetime = T0, channel: Channel = Channel.SELF_SERVICE,
              category: Category = Category.NEIGHBOUR, **kw) -> CaseSubmitted:
    return CaseSubmitted(
        **common(case_id, at), case_number=f"JSQ-2026-{case_id[-6:]:0>6}", tracking_code="ABCD-EFGH-JKLM",
        channel=channel, category=category, category_source="applicant", description="邻居漏水",
        applicant=Party(name="张三", phone="13812345678"), location=Location(unit_code=COMMUNITY),
        submitted_at=at, **kw)


def assessed(case_id: str, level: RiskLevel, at: datetime) -> CaseRiskAssessed:
    return CaseRiskAssessed(**common(case_id, at), level=level, score=1, ruleset_version="v1", reason_zh="规则")


def assigned(case_id: str, unit: str, at: datetime, assignment_id: str | None = None,
             level: RiskLevel = RiskLevel.BLUE, category: Category = Category.NEIGHBOUR) -> CaseAssigned:
    path = PATHS[unit]
    sup = path[-2] if len(path) > 1 else unit
    return CaseAssigned(
        **common(case_id, at), assignment_id=assignment_id or f"a-{case_id}-{unit}", unit_code=unit,
        unit_name=NAMES[unit], supervisor_unit_code=sup, supervisor_unit_name=NAMES[sup], category=category,
        risk_level=level, rule_id="r1", reason_zh="按属地", due_at=at + timedelta(days=10))


def work_order(case_id: str, unit: str, at: datetime, assignment_id: str | None = None, *,
               in_platform: bool = False, level: RiskLevel = RiskLevel.BLUE,
               category: Category = Category.NEIGHBOUR) -> UnitCaseAssigned:
    path = PATHS[unit]
    sup = path[-2] if len(path) > 1 else unit
    return UnitCaseAssigned(
        **common(case_id, at), assignment_id=assignment_id or f"a-{case_id}-{unit}", unit_code=unit,
        unit_name=NAMES[unit], unit_path=list(path), in_platform=in_platform, case_number=f"JSQ-2026-{case_id}",
        channel=Channel.SELF_SERVICE, category=category, risk_level=level, description="邻居漏水",
        applicant=Party(name="张三", phone="13812345678"), location=Location(unit_code=COMMUNITY),
        supervisor_unit_code=sup, supervisor_unit_name=NAMES[sup], due_at=at + timedelta(days=10))


def feedback(case_id: str, unit: str, kind: FeedbackKind, at: datetime,
             assignment_id: str | None = None) -> CaseFeedback:
    reason = "双方分歧较大" if kind in (FeedbackKind.FAILED, FeedbackKind.RETURNED) else None
    return CaseFeedback(**common(case_id, at), assignment_id=assignment_id or f"a-{case_id}-{unit}", unit_code=unit,
                        kind=kind, reason=reason)


def concluded(case_id: str, unit: str, success: bool, at: datetime) -> MediationConcluded:
    return MediationConcluded(**common(case_id, at), success=success, unit_code=unit,
                              outcome=Outcome.AGREEMENT if success else None,
                              reason_zh="" if success else "不同意", applicant_message_zh="已办结")


def closed(case_id: str, unit: str, resolved: bool, at: datetime,
           outcome: Outcome = Outcome.AGREEMENT) -> CaseClosed:
    return CaseClosed(**common(case_id, at), outcome=outcome, unit_code=unit, resolved=resolved,
                      applicant_message_zh="已办结")


def transferred(case_id: str, unit: str, at: datetime) -> CaseTransferred:
    return CaseTransferred(**common(case_id, at), to="litigation", unit_code=unit, receiving_body_zh="金水区人民法院",
                           file_package_sha256="0" * 64, applicant_message_zh="已转诉讼")


def notice(case_id: str, unit: str, step: SupervisionStep, at: datetime) -> SupervisionNotice:
    path = PATHS[unit]
    return SupervisionNotice(**common(case_id, at), assignment_id=f"a-{case_id}-{unit}", step=step, unit_code=unit,
                             supervisor_unit_code=path[-2] if len(path) > 1 else unit, due_at=at,
                             message_zh="请按期办理")


def rated(case_id: str, score: int, at: datetime) -> CaseRated:
    return CaseRated(**common(case_id, at), score=score, rated_at=at)


def new_id() -> str:
    return uuid.uuid4().hex[:12]
