"""Routing's HTTP API: the org directory, staff login, the admin API and the staff API (scoped by unit).

Every staff read of personal data and every action is written to the audit chain (yima_kit.audit); refused
attempts too (success=false). A unit's staff see only their unit's cases (supervisors also what their unit
assigned and what lies below it): a case of another unit answers 404, the same as a case that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from yima_contracts.codes import (
    CATEGORY_NAMES_ZH,
    RISK_LEVEL_NAMES_ZH,
    Category,
    Channel,
    RiskLevel,
    StaffRole,
    UnitKind,
)
from yima_contracts.personal import mask_name, mask_numbers_in_text, mask_phone
from yima_kit.audit import AuditLog
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx
from yima_kit.runtime import Runtime

from ..accounts import Accounts, LoginError, check_complexity, normalise_staff_id
from ..core.directory import Docking, Staff, SubKind, Unit
from ..core.rules import CaseFacts, RuleSet, decide
from ..service import OPEN, Refused, RoutingService
from . import slip_pdf
from .mongo_directory import DirectoryConflict, DirectoryStore
from .mongo_rules import RulesConflict, RulesStore, check_against

SUPERVISING = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.LEADER)
WORKING = (*SUPERVISING, StaffRole.MEDIATOR)
_RISK_ORDER = {"red": 0, "yellow": 1, "blue": 2}


def error(status: int, code: str, message: str, field: str = "") -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "message": message, "errors": [{"field": field, "code": code, "message": message}]})


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(default=None, pattern=r"^\d{6}$")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=200,
                                  validation_alias=AliasChoices("current_password", "old_password"))
    new_password: str = Field(min_length=1, max_length=200)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=300)


class Dispatch(Reason):
    unit_code: str = Field(min_length=1, max_length=64)
    working_days: int | None = Field(default=None, ge=1, le=60)


class Summon(Reason):
    unit_codes: list[str] = Field(min_length=1, max_length=20)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=500)


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    parent: str | None = None
    subkind: SubKind | None = None
    docking: Docking | None = None
    place: str | None = None
    fields: list[Category] = []
    jurisdiction: list[str] = []
    active: bool = True
    expected_version: int | None = Field(default=None, description="optimistic concurrency: the version you read")
    reason: str = Field(min_length=2, max_length=300)


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    unit: str = Field(min_length=1, max_length=64)
    role: StaffRole
    active: bool = True
    expected_version: int | None = None
    reason: str = Field(min_length=2, max_length=300)


class CalendarDay(Reason):
    workday: bool = Field(description="true = a working day (调休), false = a holiday")


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] = Field(description="the whole rule set, as in routing_rules.yaml, with a new version")
    reason: str = Field(min_length=2, max_length=300)


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] = Field(description="the rule set to try, as for PUT /admin/rules")
    days: int = Field(default=30, ge=1, le=366, description="the cases submitted in this many past days")


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=200)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "code": e["type"],
                   "message": "取值不正确" if e["type"] != "missing" else "缺少必填项"} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"message": "提交的内容有误，请按提示修改", "errors": errors})

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.code, exc.message)


def router(rt: Runtime, service: RoutingService, store: DirectoryStore, accounts: Accounts,
           audit: AuditLog, rules_store: RulesStore, *, trust_forwarded_for: bool = False) -> APIRouter:
    r = APIRouter(prefix="/api/v1")
    staff = rt.require_staff
    any_staff = staff()
    own_session = staff(password_change_ok=True)  # the password change, logout and refresh
    admin = staff(StaffRole.ADMIN)
    auditor = staff(StaffRole.ADMIN, StaffRole.ANALYST)
    working = staff(*WORKING)
    supervising = staff(*SUPERVISING)

    async def act(claims: StaffClaims, action: str, object_type: str, object_id: str,
                  work: Callable[[Tx], Awaitable[Any]], *, personal: bool = False) -> Any:
        """Run an action and its audit record in one transaction; a refusal is audited on its own."""
        async def both(tx: Tx) -> Any:
            result = await work(tx)
            await audit.append(tx.session, actor=claims, action=action, object_type=object_type,
                               object_id=object_id, personal_data=personal)
            return result

        try:
            return await service.run(both)
        except Refused as exc:
            code = exc.code
            await service.run(lambda tx: audit.append(
                tx.session, actor=claims, action=action, object_type=object_type, object_id=object_id,
                success=False, detail=code))
            raise

    def can_see(claims: StaffClaims, unit_code: str) -> bool:
        return claims.may_act_on(unit_code, service.directory.unit_path(unit_code))

    # --- directory (public) and login ----------------------------------------------------------------

    @r.get("/units", summary="组织机构（公开信息） Org directory")
    async def units(kind: UnitKind | None = None, parent: str | None = None) -> dict[str, Any]:
        d = service.directory
        return {"version": d.version, "units": [
            u.model_dump(mode="json", exclude_defaults=True) for u in d.units.values()
            if (kind is None or u.kind is kind) and (parent is None or u.parent == parent)]}

    def source_of(request: Request) -> str:
        if trust_forwarded_for and (fwd := request.headers.get("x-forwarded-for", "")):
            return fwd.split(",")[0].strip()[:64]
        return request.client.host if request.client else "unknown"

    @r.post("/auth/login", summary="工作人员登录 Staff login (argon2id, lockout, TOTP for admins)")
    async def login(body: Login, request: Request) -> Any:
        try:
            result = await accounts.login(body.username, body.password, body.totp, source_of(request))
        except LoginError as exc:
            who, code = normalise_staff_id(body.username)[:64], exc.code
            await service.run(lambda tx: audit.append(tx.session, actor=who, action="auth.login",
                                                      object_type="staff", object_id=who, success=False,
                                                      detail=code))
            return error(exc.status, exc.code, exc.message)
        await service.run(lambda tx: audit.append(tx.session, actor=result["staff_id"], action="auth.login",
                                                  object_type="staff", object_id=result["staff_id"]))
        return result

    @r.post("/auth/refresh", summary="续期登录凭证 Refresh the token of a session in use (idle sessions end)")
    async def refresh(claims: StaffClaims = own_session) -> Any:
        try:
            return await accounts.refresh(claims)
        except LoginError as exc:
            return error(exc.status, exc.code, exc.message)

    @r.post("/auth/password", summary="修改本人密码（首次登录必须修改） Change my password",
            description="`{current_password, new_password}`. Every session of the account ends; the answer "
                        "carries a new token (as login) for a new session. While `must_change_password` is "
                        "true, every other staff endpoint answers 403 `password_change_required`.")
    async def change_password(body: PasswordChange, claims: StaffClaims = own_session) -> Any:
        try:
            result = await accounts.change_password(claims, body.current_password, body.new_password)
        except LoginError as exc:
            field = "current_password" if exc.code == "invalid_credentials" else "new_password"
            code = exc.code
            await service.run(lambda tx: audit.append(tx.session, actor=claims, action="auth.change_password",
                                                      object_type="staff", object_id=claims.sub, success=False,
                                                      detail=code))
            return error(exc.status, exc.code, exc.message, field)
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="auth.change_password",
                                                  object_type="staff", object_id=claims.sub))
        return result

    @r.post("/auth/logout", summary="退出登录（会话失效） Log out: the session's tokens stop working")
    async def logout(claims: StaffClaims = own_session) -> Any:
        await accounts.logout(claims)
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="auth.logout",
                                                  object_type="staff", object_id=claims.sub))
        return {"logged_out": True}

    # --- admin API -------------------------------------------------------------------------------------

    def admin_scope(claims: StaffClaims, unit_code: str | None) -> None:
        """The admin's unit or one below it, by the directory as it is now (not the token's path)."""
        if not claims.mfa:
            raise Refused(403, "mfa_required", "管理操作须使用动态口令登录")
        if unit_code is None or not can_see(claims, unit_code):
            raise Refused(403, "out_of_scope", "只能管理本单位及下级单位")

    def district_only(claims: StaffClaims, what: str) -> None:
        if not claims.mfa:
            raise Refused(403, "mfa_required", "管理操作须使用动态口令登录")
        own = service.directory.get(claims.unit)
        if own is None or own.parent is not None:
            raise Refused(403, "out_of_scope", f"只有区级管理员可以{what}")

    @r.put("/admin/units/{code}", summary="新增或修改单位（留痕、版本化） Create or change a unit")
    async def put_unit(code: str, body: UnitIn, claims: StaffClaims = admin) -> Any:
        data = body.model_dump(mode="json", exclude={"expected_version", "reason"})
        try:
            Unit.model_validate({"code": code, **data})
        except ValueError:
            return error(422, "invalid_unit", "单位信息不正确（编码只能含字母、数字、-、_）", "code")
        d = service.directory
        if body.parent is not None and d.get(body.parent) is None:
            return error(422, "unknown_parent", "上级单位不存在", "parent")
        if body.parent is not None and (body.parent == code or body.parent in d.descendants(code)):
            return error(422, "parent_cycle", "上级单位不能是本单位或其下级单位", "parent")

        async def work(tx: Tx) -> int:
            old = d.get(code)
            # Before: the unit as it is must be in scope (a new one: where it is created).
            admin_scope(claims, body.parent if old is None else code)
            # After: a unit moved (or created) must land in scope; the admin's own unit cannot move at all,
            # so nobody lifts a unit, their own included, above what they administer.
            if old is None or body.parent != old.parent:
                if code == claims.unit:
                    raise Refused(403, "out_of_scope", "不能变更本单位的上级单位，请联系上级管理员")
                admin_scope(claims, body.parent)
            try:
                return await store.put("unit", code, data, expected_version=body.expected_version,
                                       actor=claims.sub, reason=body.reason, session=tx.session)
            except DirectoryConflict as exc:
                raise Refused(409, "version_conflict", "该单位已被他人修改，请刷新后重试") from exc

        version = await act(claims, "directory.put_unit", "unit", code, work)
        await store.load()
        return {"code": code, "version": version}

    @r.put("/admin/staff/{staff_id}", summary="新增或修改工作人员（留痕、版本化） Create or change staff")
    async def put_staff(staff_id: str, body: StaffIn, claims: StaffClaims = admin) -> Any:
        staff_id = normalise_staff_id(staff_id)  # once, here: the lookup, the write and the audit use this
        if service.directory.get(body.unit) is None:
            return error(422, "unknown_unit", "所属单位不存在", "unit")
        data = body.model_dump(mode="json", exclude={"expected_version", "reason"})
        try:
            Staff.model_validate({"id": staff_id, **data})
        except ValueError:
            return error(422, "invalid_staff", "人员编号只能含小写字母、数字、-、_、.（2–64位）", "staff_id")
        old = service.directory.staff.get(staff_id)

        async def work(tx: Tx) -> int:
            if old is not None:
                admin_scope(claims, old.unit)  # before: the person as they are
            admin_scope(claims, body.unit)  # after: where they will be
            if old is not None and staff_id == claims.sub and (body.role is not old.role or body.unit != old.unit):
                raise Refused(403, "out_of_scope", "不能变更本人的岗位或所属单位，请联系上级管理员")
            try:
                return await store.put("staff", staff_id, data, expected_version=body.expected_version,
                                       actor=claims.sub, reason=body.reason, session=tx.session)
            except DirectoryConflict as exc:
                raise Refused(409, "version_conflict", "该人员信息已被他人修改，请刷新后重试") from exc

        version = await act(claims, "directory.put_staff", "staff", staff_id, work)
        if old is not None and (not body.active or body.role is not old.role or body.unit != old.unit):
            await accounts.revoke_staff(staff_id)  # their tokens carry the old role and unit
        await store.load()
        return {"id": staff_id, "version": version}

    @r.get("/admin/history/{object_id}", summary="单位或人员的变更历史 Versioned change history")
    async def history(object_id: str, claims: StaffClaims = admin) -> Any:
        unit = service.directory.get(object_id)
        person = service.directory.staff.get(normalise_staff_id(object_id))
        where = unit.code if unit is not None else person.unit if person is not None else None
        if where is None or not can_see(claims, where):
            raise Refused(404, "not_found", "没有该单位或人员的变更记录")
        if person is not None and unit is None:
            object_id = person.id
        return {"object_id": object_id, "changes": await store.history(object_id)}

    @r.post("/admin/staff/{staff_id}/password", summary="重置工作人员初始密码 Set an initial password")
    async def set_password(staff_id: str, body: NewPassword, claims: StaffClaims = admin) -> Any:
        staff_id = normalise_staff_id(staff_id)
        s = service.directory.staff.get(staff_id)
        admin_scope(claims, s.unit if s else None)
        if (msg := check_complexity(body.password)) is not None:
            return error(422, "weak_password", msg, "password")
        await accounts.set_password(staff_id, body.password, must_change=True)
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="auth.set_password",
                                                  object_type="staff", object_id=staff_id))
        return {"must_change_password": True}

    @r.post("/admin/staff/{staff_id}/totp", summary="绑定/重置动态口令 Enrol TOTP (returns otpauth URI)")
    async def totp(staff_id: str, claims: StaffClaims = admin) -> Any:
        staff_id = normalise_staff_id(staff_id)
        s = service.directory.staff.get(staff_id)
        admin_scope(claims, s.unit if s else None)
        uri = await accounts.enrol_totp(staff_id)
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="auth.enrol_totp",
                                                  object_type="staff", object_id=staff_id))
        return {"otpauth_uri": uri}

    @r.put("/admin/calendar/{day}", summary="录入未公布年度的节假日/调休（暂定） Enter a provisional day")
    async def put_calendar_day(day: date, body: CalendarDay, claims: StaffClaims = admin) -> Any:
        district_only(claims, "录入节假日")
        await act(claims, "calendar.put_day", "calendar", day.isoformat(),
                  lambda tx: service.set_calendar_day(claims, day, body.workday, body.reason, tx))
        changed = await service.recompute_provisional()
        return {"day": day.isoformat(), "workday": body.workday, "deadlines_recomputed": changed}

    @r.get("/admin/rules", summary="当前分流规则及历史版本 Active routing rules and their versions")
    async def get_rules(claims: StaffClaims = admin) -> Any:
        return {"active": service.rules.model_dump(mode="json"), "versions": await rules_store.history()}

    @r.put("/admin/rules", summary="发布新版分流规则（区级管理员） Publish a new rule set")
    async def put_rules(body: RulesIn, claims: StaffClaims = admin) -> Any:
        district_only(claims, "发布分流规则")
        try:
            new = RuleSet.model_validate(body.rules)
        except ValueError:
            return error(422, "invalid_rules", "规则格式不正确", "rules")
        if problems := check_against(new, service.directory):
            return error(422, "invalid_rules", "；".join(problems)[:300], "rules")

        async def work(tx: Tx) -> None:
            try:
                await rules_store.activate(new, by=claims.sub, reason=body.reason, session=tx.session)
            except RulesConflict as exc:
                raise Refused(409, "version_exists", "该规则版本号已存在，请使用新的版本号") from exc

        await act(claims, "rules.publish", "ruleset", new.version, work)
        service.rules = new
        return {"version": new.version}

    @r.post("/admin/rules/dry-run", summary="试运行：新规则对近期案件的影响 What a rule change would do")
    async def dry_run(body: DryRunIn, claims: StaffClaims = admin) -> Any:
        """Each case submitted in the past ``days``, decided by the active rules and by the tried ones: which
        would go elsewhere. Nothing is written but the audit record."""
        try:
            new = RuleSet.model_validate(body.rules)
        except ValueError:
            return error(422, "invalid_rules", "规则格式不正确", "rules")
        if problems := check_against(new, service.directory):
            return error(422, "invalid_rules", "；".join(problems)[:300], "rules")
        d, old = service.directory, service.rules
        since = service.now() - timedelta(days=body.days)
        total, changed = 0, []
        async for c in service.cases.find({"facts.submitted_at": {"$gte": since}, "risk": {"$exists": True}},
                                          {"facts": 1, "risk": 1}).limit(20000):
            f = c["facts"]
            facts = CaseFacts(Channel(f["channel"]), Category(f["category"]), RiskLevel(c["risk"]["level"]),
                              f.get("location_unit_code") or f.get("located_unit_code"), f.get("party_count"),
                              f.get("amount_yuan"))
            a, b = decide(facts, old, d), decide(facts, new, d)
            total += 1
            if (a.unit.code, a.rule_id, a.working_days) != (b.unit.code, b.rule_id, b.working_days):
                changed.append({"case_id": c["_id"], "case_number": f["case_number"], "category": f["category"],
                                "risk_level": c["risk"]["level"], "from_unit_code": a.unit.code,
                                "from_unit_name": a.unit.name, "from_rule": a.rule_id, "to_unit_code": b.unit.code,
                                "to_unit_name": b.unit.name, "to_rule": b.rule_id,
                                "from_working_days": a.working_days, "to_working_days": b.working_days})
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="rules.dry_run",
                                                  object_type="ruleset", object_id=new.version,
                                                  detail=f"{len(changed)}/{total}"))
        moved: dict[str, int] = {}
        for x in changed:
            moved[x["to_unit_code"]] = moved.get(x["to_unit_code"], 0) + 1
        return {"active_version": old.version, "tried_version": new.version, "days": body.days, "cases": total,
                "changed": len(changed), "to_units": moved, "examples": changed[:200]}

    @r.get("/admin/audit/verify", summary="校验审计日志哈希链 Verify the audit chain")
    async def verify_audit(claims: StaffClaims = auditor) -> Any:
        ok, n, bad = await audit.verify()
        return {"intact": ok, "records": n, "first_bad": bad}

    # --- staff API: queues, history, actions ---------------------------------------------------------

    @r.get("/units/{code}/queue", summary="本单位待办（红色、逾期、新件在前） A unit's queue")
    async def queue(code: str, scope: str = "handling", claims: StaffClaims = working) -> Any:
        if not can_see(claims, code):
            raise Refused(403, "out_of_scope", "只能查看本单位（及下级单位）的案件")
        now = service.now()
        field = "supervisor_unit_code" if scope == "supervised" else "unit_code"
        items = []
        async for a in service.assignments.find({field: code, "state": {"$in": list(OPEN)}}).limit(500):
            overdue = not a.get("paused") and a["due_at"] <= now
            items.append({
                "assignment_id": a["_id"], "case_id": a["case_id"], "case_number": a.get("case_number"),
                "unit_code": a["unit_code"], "supervisor_unit_code": a["supervisor_unit_code"],
                "category": a.get("category"), "risk_level": a["risk_level"], "state": a["state"],
                "new": a["state"] == "assigned", "overdue": overdue, "paused": a.get("paused", False),
                "due_at": a["due_at"], "assigned_at": a["assigned_at"], "round": a["round"],
                "supervision_done": a.get("sup_done", []),
                "due_provisional": a.get("due_provisional", False), "pause_reason": a.get("pause_reason"),
                "working_days_left": None if a.get("paused") else (
                    -service.calendar.working_days_between(a["due_at"], now) if overdue
                    else service.calendar.working_days_between(now, a["due_at"])),
                "urged": sum(1 for h in a.get("history", []) if h.get("change") == "urged"),
            })
        items.sort(key=lambda i: (_RISK_ORDER.get(i["risk_level"], 3), not i["overdue"], not i["new"], i["due_at"]))
        returned = []
        if scope == "supervised":
            async for c in service.cases.find({"pending_dispatch.supervisor_unit_code": code}).limit(200):
                p = c["pending_dispatch"]
                suggested = service.suggest_decision(c)
                returned.append({"case_id": c["_id"], "case_number": c["facts"]["case_number"],
                                 "category": c["facts"].get("category"),
                                 "risk_level": (c.get("risk") or {}).get("level"),
                                 "returned_by": p["returned_by"], "reason": p["reason"], "at": p["at"],
                                 "excluded_units": c.get("excluded_units", []),
                                 "suggested_unit_code": suggested.unit.code if suggested else None,
                                 "suggested_rule_id": suggested.rule_id if suggested else None,
                                 "suggested_reason_zh": suggested.reason_zh if suggested else None})
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="queue.read", object_type="unit",
                                                  object_id=code, detail=scope))
        return {"unit_code": code, "scope": scope, "items": items, "awaiting_redispatch": returned}

    async def visible_case(claims: StaffClaims, case_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        case = await service.cases.find_one({"_id": case_id})
        rounds = [a async for a in service.assignments.find({"case_id": case_id}).sort("round", 1)]
        units = {a["unit_code"] for a in rounds} | {a["supervisor_unit_code"] for a in rounds}
        if case and case.get("pending_dispatch"):
            units.add(case["pending_dispatch"]["supervisor_unit_code"])
        if case is None or not any(can_see(claims, u) for u in units):
            await service.run(lambda tx: audit.append(tx.session, actor=claims, action="case.read",
                                                      object_type="case", object_id=case_id, success=False,
                                                      detail="not_visible"))
            raise Refused(404, "not_found", "案件不存在")
        return case, rounds

    @r.get("/cases/{case_id}/assignments", summary="案件的交办记录 A case's assignment history")
    async def assignments(case_id: str, claims: StaffClaims = working) -> Any:
        case, rounds = await visible_case(claims, case_id)
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="case.assignments.read",
                                                  object_type="case", object_id=case_id))
        keep = ("round", "unit_code", "supervisor_unit_code", "rule_id", "reason_zh", "state", "assigned_at",
                "due_at", "due_provisional", "risk_level", "feedback", "history", "sup_done", "escalated_from",
                "paused")
        return {"case_id": case_id, "leader": case.get("leader"), "escalations": case.get("escalations", []),
                "pending_dispatch": case.get("pending_dispatch"),
                "assignments": [{"assignment_id": a["_id"], **{k: a.get(k) for k in keep}} for a in rounds]}

    @r.get("/cases/{case_id}", summary="案件详情（含当事人信息，留痕） Case detail with the applicant")
    async def case_detail(case_id: str, reveal: bool = False,
                          reason: Annotated[str, Query(max_length=200)] = "",
                          claims: StaffClaims = working) -> Any:
        case, _ = await visible_case(claims, case_id)
        # The applicant in full only with a reason, kept in the chain (docs/adr/0046): routing's staff dispatch
        # and supervise; the handling unit gets the contact data with its work order.
        reason = " ".join(reason.split())
        if reveal and len(reason) < 4:
            raise Refused(422, "reason_required", "查看申请人完整信息须填写理由（至少4个字），理由将记入审计日志")
        f = case["facts"]
        dec = service.cipher.decrypt
        name = dec(f["applicant_name"], context="routing.applicant.name")
        phone = dec(f["applicant_phone"], context="routing.applicant.phone")
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="case.personal_data.read",
                                                  object_type="case", object_id=case_id, personal_data=True,
                                                  detail=f"revealed：{mask_numbers_in_text(reason)}" if reveal
                                                  else "masked"))
        return {"case_id": case_id, "case_number": f["case_number"], "category": f["category"],
                "channel": f["channel"], "risk_level": case.get("risk", {}).get("level"),
                "description": dec(f["description"], context="routing.description"),
                "applicant": {"name": name if reveal else mask_name(name),
                              "phone": phone if reveal else mask_phone(phone)},
                "assigned_unit": case.get("assigned_unit"), "leader": case.get("leader")}

    @r.get("/assignments/{assignment_id}/slip.pdf", summary="交办单（PDF） The printable assignment slip")
    async def slip(assignment_id: str, claims: StaffClaims = working) -> Response:
        a = await service.assignments.find_one({"_id": assignment_id})
        d = service.directory
        if a is None or not (can_see(claims, a["unit_code"]) or can_see(claims, a["supervisor_unit_code"])):
            raise Refused(404, "not_found", "交办记录不存在")
        case = await service.cases.find_one({"_id": a["case_id"]}, {"leader": 1})
        unit, sup = d.get(a["unit_code"]), d.get(a["supervisor_unit_code"])
        pdf = slip_pdf.render(slip_pdf.Slip(
            case_number=a.get("case_number", a["case_id"]), assignment_id=a["_id"], round=a["round"],
            unit_name=unit.name if unit else a["unit_code"], supervisor_name=sup.name if sup else "",
            category_zh=CATEGORY_NAMES_ZH.get(Category(a["category"]), a["category"]),
            risk_zh=RISK_LEVEL_NAMES_ZH[RiskLevel(a["risk_level"])] + "色", assigned_at=a["assigned_at"],
            due_at=a["due_at"], due_provisional=a.get("due_provisional", False), reason_zh=a["reason_zh"],
            leader_name=((case or {}).get("leader") or {}).get("name")))
        await service.run(lambda tx: audit.append(tx.session, actor=claims, action="assignment.slip.print",
                                                  object_type="assignment", object_id=assignment_id))
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="slip-{a.get("case_number", "case")}.pdf"'})

    @r.post("/cases/{case_id}/dispatch", summary="人工分派（须说明理由） Manual dispatch with a reason")
    async def dispatch(case_id: str, body: Dispatch, claims: StaffClaims = supervising) -> Any:
        aid = await act(claims, "case.dispatch", "case", case_id, lambda tx: service.dispatch(
            claims, case_id, body.unit_code, body.reason, body.working_days, tx))
        return {"assignment_id": aid}

    @r.post("/assignments/{assignment_id}/return", summary="退回（须说明理由） Return to the supervisor")
    async def return_case(assignment_id: str, body: Reason, claims: StaffClaims = working) -> Any:
        await act(claims, "assignment.return", "assignment", assignment_id,
                  lambda tx: service.return_case(claims, assignment_id, body.reason, tx))
        return {"returned": True}

    @r.post("/assignments/{assignment_id}/pause", summary="暂停计时（须说明理由） Pause the clock")
    async def pause(assignment_id: str, body: Reason, claims: StaffClaims = supervising) -> Any:
        return await act(claims, "assignment.pause", "assignment", assignment_id,
                         lambda tx: service.pause(claims, assignment_id, body.reason, tx))

    @r.post("/assignments/{assignment_id}/resume", summary="恢复计时 Resume the clock")
    async def resume(assignment_id: str, body: Reason, claims: StaffClaims = supervising) -> Any:
        return await act(claims, "assignment.resume", "assignment", assignment_id,
                         lambda tx: service.resume(claims, assignment_id, body.reason, tx))

    @r.post("/assignments/{assignment_id}/urge", summary="催办（督办单位，须说明理由） Press the unit now")
    async def urge(assignment_id: str, body: Reason, claims: StaffClaims = supervising) -> Any:
        return await act(claims, "assignment.urge", "assignment", assignment_id,
                         lambda tx: service.urge(claims, assignment_id, body.reason, tx))

    @r.post("/assignments/{assignment_id}/escalate", summary="提级办理（督办单位，须说明理由） Escalate by hand")
    async def escalate(assignment_id: str, body: Reason, claims: StaffClaims = supervising) -> Any:
        aid = await act(claims, "assignment.escalate", "assignment", assignment_id,
                        lambda tx: service.escalate(claims, assignment_id, body.reason, tx))
        return {"assignment_id": aid}

    @r.get("/units/{code}/joint", summary="吹哨报到：牵头、被召集及待报到 A unit's joint actions and open summons")
    async def joint_list(code: str, claims: StaffClaims = working) -> Any:
        if not can_see(claims, code):
            raise Refused(403, "out_of_scope", "只能查看本单位（及下级单位）的联合处置")
        out = []
        async for j in service.joints.find({"$or": [{"lead_unit_code": code}, {f"units.{code}": {"$exists": True}}]}
                                           ).sort("at", -1).limit(200):
            case = await service.cases.find_one({"_id": j["case_id"]}, {"facts.case_number": 1})
            out.append({"joint_id": j["_id"], "case_id": j["case_id"],
                        "case_number": ((case or {}).get("facts") or {}).get("case_number"),
                        "lead_unit_code": j["lead_unit_code"], "reason": j["reason"], "at": j["at"],
                        "report_by": j["report_by"], "units": j["units"], "lead": j["lead_unit_code"] == code})
        # joint: every joint action the unit leads or was summoned to (the console); items: its open summons,
        # each with what to report (a department's own system)
        return {"unit_code": code, "joint": out, "items": await service.open_summons(code)}

    @r.post("/cases/{case_id}/joint", summary="吹哨报到：召集联合处置 Summon units")
    async def summon(case_id: str, body: Summon, claims: StaffClaims = supervising) -> Any:
        jid = await act(claims, "case.joint_summon", "case", case_id,
                        lambda tx: service.summon(claims, case_id, body.unit_codes, body.reason, tx))
        return {"joint_id": jid}

    @r.get("/joint/{joint_id}", summary="吹哨报到详情（牵头及被召集单位） A summons and who reported")
    async def one_summons(joint_id: str, claims: StaffClaims = any_staff) -> Any:
        j = await service.summons(joint_id)
        if j is None or not any(can_see(claims, u) for u in [j["lead_unit_code"], *j["units"]]):
            raise Refused(404, "not_found", "没有找到该吹哨报到")
        return j

    @r.post("/joint/{joint_id}/report", summary="被召集单位报到 Report in")
    async def report(joint_id: str, body: ReportIn, claims: StaffClaims = working) -> Any:
        return await act(claims, "joint.report_in", "joint", joint_id,
                         lambda tx: service.report_in(claims, joint_id, body.note, tx))

    return r

