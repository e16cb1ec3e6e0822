"""The admin API for the directory (units and staff, versioned with their history) and staff credentials.
An admin manages their own unit and those below it, with a TOTP login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx

from ...accounts import check_complexity, normalise_staff_id
from ...core.directory import Staff, Unit
from ...service import Refused
from ..mongo_directory import DirectoryConflict
from .bodies import NewPassword, StaffIn, UnitIn
from .common import ADMIN, Web, WebDep, error

router = APIRouter(prefix="/api/v1")


def admin_scope(w: Web, claims: StaffClaims, unit_code: str | None) -> None:
    """The admin's unit or one below it, by the directory as it is now (not the token's path)."""
    if not claims.mfa:
        raise Refused(403, "mfa_required", "管理操作须使用动态口令登录")
    if unit_code is None or not w.can_see(claims, unit_code):
        raise Refused(403, "out_of_scope", "只能管理本单位及下级单位")


@router.put("/admin/units/{code}", summary="新增或修改单位（留痕、版本化） Create or change a unit")
async def put_unit(code: str, body: UnitIn, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    data = body.model_dump(mode="json", exclude={"expected_version", "reason"})
    try:
        Unit.model_validate({"code": code, **data})
    except ValueError:
        return error(422, "invalid_unit", "单位信息不正确（编码只能含字母、数字、-、_）", "code")
    d = w.service.directory
    if body.parent is not None and d.get(body.parent) is None:
        return error(422, "unknown_parent", "上级单位不存在", "parent")
    if body.parent is not None and (body.parent == code or body.parent in d.descendants(code)):
        return error(422, "parent_cycle", "上级单位不能是本单位或其下级单位", "parent")

    async def work(tx: Tx) -> int:
        old = d.get(code)
        # Before: the unit as it is must be in scope (a new one: where it is created).
        admin_scope(w, claims, body.parent if old is None else code)
        # After: a unit moved (or created) must land in scope; the admin's own unit cannot move at all,
        # so nobody lifts a unit, their own included, above what they administer.
        if old is None or body.parent != old.parent:
            if code == claims.unit:
                raise Refused(403, "out_of_scope", "不能变更本单位的上级单位，请联系上级管理员")
            admin_scope(w, claims, body.parent)
        try:
            return await w.store.put("unit", code, data, expected_version=body.expected_version,
                                     actor=claims.sub, reason=body.reason, session=tx.session)
        except DirectoryConflict as exc:
            raise Refused(409, "version_conflict", "该单位已被他人修改，请刷新后重试") from exc

    version = await w.act(claims, "directory.put_unit", "unit", code, work)
    await w.store.load()
    return {"code": code, "version": version}


@router.put("/admin/staff/{staff_id}", summary="新增或修改工作人员（留痕、版本化） Create or change staff")
async def put_staff(staff_id: str, body: StaffIn, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    staff_id = normalise_staff_id(staff_id)  # once, here: the lookup, the write and the audit use this
    if w.service.directory.get(body.unit) is None:
        return error(422, "unknown_unit", "所属单位不存在", "unit")
    data = body.model_dump(mode="json", exclude={"expected_version", "reason"})
    try:
        Staff.model_validate({"id": staff_id, **data})
    except ValueError:
        return error(422, "invalid_staff", "人员编号只能含小写字母、数字、-、_、.（2–64位）", "staff_id")
    old = w.service.directory.staff.get(staff_id)

    async def work(tx: Tx) -> int:
        if old is not None:
            admin_scope(w, claims, old.unit)  # before: the person as they are
        admin_scope(w, claims, body.unit)  # after: where they will be
        if old is not None and staff_id == claims.sub and (body.role is not old.role or body.unit != old.unit):
            raise Refused(403, "out_of_scope", "不能变更本人的岗位或所属单位，请联系上级管理员")
        try:
            return await w.store.put("staff", staff_id, data, expected_version=body.expected_version,
                                     actor=claims.sub, reason=body.reason, session=tx.session)
        except DirectoryConflict as exc:
            raise Refused(409, "version_conflict", "该人员信息已被他人修改，请刷新后重试") from exc

    version = await w.act(claims, "directory.put_staff", "staff", staff_id, work)
    if old is not None and (not body.active or body.role is not old.role or body.unit != old.unit):
        await w.accounts.revoke_staff(staff_id)  # their tokens carry the old role and unit
    await w.store.load()
    return {"id": staff_id, "version": version}


@router.get("/admin/history/{object_id}", summary="单位或人员的变更历史 Versioned change history")
async def history(object_id: str, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    unit = w.service.directory.get(object_id)
    person = w.service.directory.staff.get(normalise_staff_id(object_id))
    where = unit.code if unit is not None else person.unit if person is not None else None
    if where is None or not w.can_see(claims, where):
        raise Refused(404, "not_found", "没有该单位或人员的变更记录")
    if person is not None and unit is None:
        object_id = person.id
    return {"object_id": object_id, "changes": await w.store.history(object_id)}


@router.post("/admin/staff/{staff_id}/password", summary="重置工作人员初始密码 Set an initial password")
async def set_password(staff_id: str, body: NewPassword, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    staff_id = normalise_staff_id(staff_id)
    s = w.service.directory.staff.get(staff_id)
    admin_scope(w, claims, s.unit if s else None)
    if (msg := check_complexity(body.password)) is not None:
        return error(422, "weak_password", msg, "password")
    await w.accounts.set_password(staff_id, body.password, must_change=True)
    await w.record(claims, "auth.set_password", "staff", staff_id)
    return {"must_change_password": True}


@router.post("/admin/staff/{staff_id}/totp", summary="绑定/重置动态口令 Enrol TOTP (returns otpauth URI)")
async def totp(staff_id: str, claims: StaffClaims = ADMIN, w: Web = WebDep) -> Any:
    staff_id = normalise_staff_id(staff_id)
    s = w.service.directory.staff.get(staff_id)
    admin_scope(w, claims, s.unit if s else None)
    uri = await w.accounts.enrol_totp(staff_id)
    await w.record(claims, "auth.enrol_totp", "staff", staff_id)
    return {"otpauth_uri": uri}
