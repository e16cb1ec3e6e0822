"""The district's admin API for how cases are routed: the rule set (publish, try on recent cases), the
provisional calendar of unpublished years, and the audit chain's check."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx

from ...core.rules import RuleSet
from ...service import Refused
from ..mongo_rules import RulesConflict, check_against
from .bodies import CalendarDay, DryRunIn, RulesIn
from .common import ADMIN, AUDITOR, Web, WebDep, error

router = APIRouter(prefix="/api/v1")


def district_only(w: Web, claims: StaffClaims, what: str) -> None:
    if not claims.mfa:
        raise Refused(403, "mfa_required", "管理操作须使用动态口令登录")
    own = w.service.directory.get(claims.unit)
    if own is None or own.parent is not None:
        raise Refused(403, "out_of_scope", f"只有区级管理员可以{what}")


@router.put("/admin/calendar/{day}", summary="录入未公布年度的节假日/调休（暂定） Enter a provisional day")
async def put_calendar_day(day: date, body: CalendarDay, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    district_only(w, claims, "录入节假日")
    await w.act(claims, "calendar.put_day", "calendar", day.isoformat(),
                lambda tx: w.service.set_calendar_day(claims, day, body.workday, body.reason, tx))
    changed = await w.service.recompute_provisional()
    return {"day": day.isoformat(), "workday": body.workday, "deadlines_recomputed": changed}


@router.get("/admin/rules", summary="当前分流规则及历史版本 Active routing rules and their versions")
async def get_rules(claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    return {"active": w.service.rules.model_dump(mode="json"), "versions": await w.rules_store.history()}


def _tried_rules(w: Web, rules: dict[str, Any]) -> RuleSet | Any:
    """The rule set in a request, or the 422 answer that says what is wrong with it."""
    try:
        new = RuleSet.model_validate(rules)
    except ValueError:
        return error(422, "invalid_rules", "规则格式不正确", "rules")
    if problems := check_against(new, w.service.directory):
        return error(422, "invalid_rules", "；".join(problems)[:300], "rules")
    return new


@router.put("/admin/rules", summary="发布新版分流规则（区级管理员） Publish a new rule set")
async def put_rules(body: RulesIn, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    district_only(w, claims, "发布分流规则")
    new = _tried_rules(w, body.rules)
    if not isinstance(new, RuleSet):
        return new

    async def work(tx: Tx) -> None:
        try:
            await w.rules_store.activate(new, by=claims.sub, reason=body.reason, session=tx.session)
        except RulesConflict as exc:
            raise Refused(409, "version_exists", "该规则版本号已存在，请使用新的版本号") from exc

    await w.act(claims, "rules.publish", "ruleset", new.version, work)
    w.service.rules = new
    return {"version": new.version}


@router.post("/admin/rules/dry-run", summary="试运行：新规则对近期案件的影响 What a rule change would do")
async def dry_run(body: DryRunIn, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    """Each case submitted in the past ``days``, decided by the active rules and by the tried ones: which
    would go elsewhere. Nothing is written but the audit record. The district's only, like publishing: the
    answer names cases of every street."""
    district_only(w, claims, "试运行分流规则")
    new = _tried_rules(w, body.rules)
    if not isinstance(new, RuleSet):
        return new
    result = await w.service.dry_run(new, body.days)
    await w.record(claims, "rules.dry_run", "ruleset", new.version, detail=f"{result['changed']}/{result['cases']}")
    return result


@router.get("/admin/audit/verify", summary="校验审计日志哈希链 Verify the audit chain")
async def verify_audit(claims: StaffClaims = AUDITOR, w: Web = WebDep) -> Any:
    ok, n, bad = await w.audit.verify()
    return {"intact": ok, "records": n, "first_bad": bad}
