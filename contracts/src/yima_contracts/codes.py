"""The public vocabulary (DESIGN.md §10). APIs, events and statistics use these codes."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SELF_SERVICE = "self_service"  # QR, web, mini-program
    RECEPTION = "reception"  # walk-in
    PROXY = "proxy"  # 代办
    GRID = "grid"  # 网格员 report
    HOTLINE_12345 = "hotline_12345"
    POLICE_110 = "police_110"
    COURT_REFERRAL = "court_referral"  # 诉前委派
    PETITION = "petition"  # 信访
    OPEN311 = "open311"


class Category(StrEnum):
    MARRIAGE_FAMILY = "marriage_family"
    NEIGHBOUR = "neighbour"
    PROPERTY_MANAGEMENT = "property_management"
    LABOUR_WAGES = "labour_wages"
    ROAD_TRAFFIC = "road_traffic"
    MEDICAL = "medical"
    LAND_FOREST = "land_forest"
    ENVIRONMENT = "environment"
    CONSUMER = "consumer"
    CONTRACT_DEBT = "contract_debt"
    DEMOLITION = "demolition"
    OTHER = "other"


CATEGORY_NAMES_ZH: dict[Category, str] = {
    Category.MARRIAGE_FAMILY: "婚姻家庭",
    Category.NEIGHBOUR: "邻里纠纷",
    Category.PROPERTY_MANAGEMENT: "物业纠纷",
    Category.LABOUR_WAGES: "劳动争议/欠薪",
    Category.ROAD_TRAFFIC: "道路交通",
    Category.MEDICAL: "医疗纠纷",
    Category.LAND_FOREST: "山林土地/宅基地",
    Category.ENVIRONMENT: "环境污染",
    Category.CONSUMER: "消费纠纷",
    Category.CONTRACT_DEBT: "合同/借贷",
    Category.DEMOLITION: "征收拆迁",
    Category.OTHER: "其他",
}


class RiskLevel(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    BLUE = "blue"


RISK_LEVEL_NAMES_ZH: dict[RiskLevel, str] = {RiskLevel.RED: "红", RiskLevel.YELLOW: "黄", RiskLevel.BLUE: "蓝"}


class UnitKind(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    DEPARTMENT = "department"
    COMMITTEE = "committee"
    COURT_CENTRE = "court_centre"


class StaffRole(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    MEDIATOR = "mediator"
    LEADER = "leader"
    ANALYST = "analyst"
    GRID_WORKER = "grid_worker"


class CaseState(StrEnum):
    SUBMITTED = "submitted"
    CLASSIFIED = "classified"
    ASSESSED = "assessed"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    IN_MEDIATION = "in_mediation"
    RESOLVED = "resolved"
    FAILED = "failed"
    ESCALATED = "escalated"
    TRANSFERRED = "transferred"
    CLOSED = "closed"
    RATED = "rated"
    FOLLOWED_UP = "followed_up"


class FeedbackKind(StrEnum):
    ACCEPTED = "accepted"
    RETURNED = "returned"  # reason required
    PROGRESS = "progress"
    RESOLVED = "resolved"
    FAILED = "failed"  # reason required


class SupervisionStep(StrEnum):
    WARNING = "warning"
    NOTICE = "notice"
    SECOND_NOTICE = "second_notice"
    ESCALATED = "escalated"
    LEADER = "leader"


class Outcome(StrEnum):
    AGREEMENT = "agreement"
    JUDICIAL_CONFIRMATION = "judicial_confirmation"
    ARBITRATION = "arbitration"
    LITIGATION = "litigation"
    ADMINISTRATIVE = "administrative"
    WITHDRAWN = "withdrawn"


class ActorKind(StrEnum):
    APPLICANT = "applicant"
    STAFF = "staff"
    UNIT_SYSTEM = "unit_system"  # a department's own system answering on case.feedback
    SYSTEM = "system"  # a yima service acting on its own (rules, sweeper)
