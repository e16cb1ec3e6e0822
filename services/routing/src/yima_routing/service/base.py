"""What every part of routing's service shares: its repositories, the directory and rules in force, the
calendar, the clock, one unit of work per use case, and the refusals staff see."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from yima_contracts import Actor
from yima_contracts.codes import ActorKind
from yima_kit.auth import StaffClaims
from yima_kit.calendar import SHANGHAI, WorkingCalendar
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox
from yima_kit.uow import UnitOfWork

from ..core.assignment import Assignment, DeadlineRules
from ..core.directory import Directory
from ..core.rules import RuleSet
from ..ports import Repositories

SYSTEM = Actor(kind=ActorKind.SYSTEM, service="routing")
Clock = Callable[[], datetime]
TopicEnsurer = Callable[[str], Awaitable[None]]


class Refused(Exception):
    """A staff action that is not allowed or not possible now (HTTP 403/404/409 with a Chinese message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fmt_time(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%Y年%m月%d日%H:%M")


def staff_actor(claims: StaffClaims) -> Actor:
    return Actor(kind=ActorKind.STAFF, unit_code=claims.unit, staff_id=claims.sub, role=claims.role)


class ServiceBase:
    def __init__(self, repos: Repositories, directory: Callable[[], Directory], rules: RuleSet,
                 cipher: FieldCipher, *, client: AsyncMongoClient[Any] | None = None, outbox: Outbox | None = None,
                 ensure_topic: TopicEnsurer | None = None, clock: Clock | None = None) -> None:
        self.repos = repos
        self.cases = repos.cases
        self.assignments = repos.assignments
        self.joints = repos.joints
        self._directory = directory
        self.rules = rules
        self.calendar = WorkingCalendar()  # with the admin-entered days of unpublished years (load_calendar)
        self.cipher = cipher
        self.client = client
        self.outbox = outbox
        self.ensure_topic = ensure_topic
        self.now: Clock = clock or (lambda: datetime.now(UTC))

    @property
    def directory(self) -> Directory:
        return self._directory()

    @property
    def deadline_rules(self) -> DeadlineRules:
        return DeadlineRules(self.calendar, self.rules.supervision)

    async def setup(self) -> None:
        await self.repos.setup()

    async def run(self, work: Callable[[Tx], Awaitable[Any]]) -> Any:
        """A use case outside a consumer: one transaction, its events staged in the outbox."""
        client, outbox = self.client, self.outbox
        assert client is not None and outbox is not None
        return await UnitOfWork(client, outbox).run(work)

    def can_act_on(self, claims: StaffClaims, unit_code: str) -> bool:
        return claims.may_act_on(unit_code, self.directory.unit_path(unit_code))

    async def _own_assignment(self, claims: StaffClaims, assignment_id: str, tx: Tx, *,
                              supervisor_too: bool) -> Assignment:
        a = await self.assignments.get(assignment_id, tx.session)
        if a is None:
            raise Refused(404, "not_found", "交办记录不存在")
        allowed = self.can_act_on(claims, a.unit_code) or (
            supervisor_too and self.can_act_on(claims, a.supervisor_unit_code))
        if not allowed:
            raise Refused(404, "not_found", "交办记录不存在")  # no hint that it exists in another unit
        if not a.is_open:
            raise Refused(409, "closed", "该交办已结束，不能再操作")
        return a

    async def _supervised(self, claims: StaffClaims, assignment_id: str, tx: Tx) -> Assignment:
        a = await self.assignments.get(assignment_id, tx.session)
        if a is None or not self.can_act_on(claims, a.supervisor_unit_code):
            raise Refused(404, "not_found", "交办记录不存在")  # only the supervisor (or above) presses
        if not a.is_open:
            raise Refused(409, "closed", "该交办已结束，不能再操作")
        return a
