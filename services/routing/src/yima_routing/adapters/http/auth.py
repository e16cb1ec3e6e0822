"""The public directory and staff sign-in: login (argon2id, lockout, TOTP for admins), refresh, password
change (forced at first login), logout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from yima_contracts.codes import UnitKind
from yima_kit.auth import StaffClaims

from ...accounts import LoginError, normalise_staff_id
from .bodies import Login, PasswordChange
from .common import OWN_SESSION, Web, WebDep, error

router = APIRouter(prefix="/api/v1")


@router.get("/units", summary="组织机构（公开信息） Org directory")
async def units(kind: UnitKind | None = None, parent: str | None = None, w: Web = WebDep) -> dict[str, Any]:
    d = w.service.directory
    return {"version": d.version, "units": [
        u.model_dump(mode="json", exclude_defaults=True) for u in d.units.values()
        if (kind is None or u.kind is kind) and (parent is None or u.parent == parent)]}


def source_of(request: Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for and (fwd := request.headers.get("x-forwarded-for", "")):
        return fwd.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", summary="工作人员登录 Staff login (argon2id, lockout, TOTP for admins)")
async def login(body: Login, request: Request, w: Web = WebDep) -> Any:
    try:
        result = await w.accounts.login(body.username, body.password, body.totp,
                                        source_of(request, w.trust_forwarded_for))
    except LoginError as exc:
        who = normalise_staff_id(body.username)[:64]
        await w.record(who, "auth.login", "staff", who, success=False, detail=exc.code)
        return error(exc.status, exc.code, exc.message)
    await w.record(result["staff_id"], "auth.login", "staff", result["staff_id"])
    return result


@router.post("/auth/refresh", summary="续期登录凭证 Refresh the token of a session in use (idle sessions end)")
async def refresh(claims: StaffClaims = OWN_SESSION, w: Web = WebDep) -> Any:
    try:
        return await w.accounts.refresh(claims)
    except LoginError as exc:
        return error(exc.status, exc.code, exc.message)


@router.post("/auth/password", summary="修改本人密码（首次登录必须修改） Change my password",
             description="`{current_password, new_password}`. Every session of the account ends; the answer "
                         "carries a new token (as login) for a new session. While `must_change_password` is "
                         "true, every other staff endpoint answers 403 `password_change_required`.")
async def change_password(body: PasswordChange, claims: StaffClaims = OWN_SESSION, w: Web = WebDep) -> Any:
    try:
        result = await w.accounts.change_password(claims, body.current_password, body.new_password)
    except LoginError as exc:
        field = "current_password" if exc.code == "invalid_credentials" else "new_password"
        await w.record(claims, "auth.change_password", "staff", claims.sub, success=False, detail=exc.code)
        return error(exc.status, exc.code, exc.message, field)
    await w.record(claims, "auth.change_password", "staff", claims.sub)
    return result


@router.post("/auth/logout", summary="退出登录（会话失效） Log out: the session's tokens stop working")
async def logout(claims: StaffClaims = OWN_SESSION, w: Web = WebDep) -> Any:
    await w.accounts.logout(claims)
    await w.record(claims, "auth.logout", "staff", claims.sub)
    return {"logged_out": True}
