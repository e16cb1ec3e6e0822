"""What every router of routing's HTTP API shares: the parts it talks to (one :class:`Web` on
``app.state.routing_web``), the staff guards, audited actions and the error shape.

Every staff read of personal data and every action is written to the audit chain (yima_kit.audit); refused
attempts too (success=false). A unit's staff see only their unit's cases (supervisors also what their unit
assigned and what lies below it): a case of another unit answers 404, the same as a case that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx

from ...accounts import Accounts
from ...service import Refused, RoutingService
from ..mongo_directory import DirectoryStore
from ..mongo_rules import RulesStore

SUPERVISING = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.LEADER)
WORKING = (*SUPERVISING, StaffRole.MEDIATOR)


def error(status: int, code: str, message: str, field: str = "") -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "message": message, "errors": [{"field": field, "code": code, "message": message}]})


@dataclass
class Web:
    service: RoutingService
    store: DirectoryStore
    accounts: Accounts
    audit: AuditLog
    rules_store: RulesStore
    trust_forwarded_for: bool = False

    def can_see(self, claims: StaffClaims, unit_code: str) -> bool:
        return self.service.can_act_on(claims, unit_code)

    async def record(self, actor: StaffClaims | str, action: str, object_type: str, object_id: str,
                     **kw: Any) -> None:
        """One audit record in its own transaction (a read, a login, a refusal)."""
        await self.service.run(lambda tx: self.audit.append(tx.session, actor=actor, action=action,
                                                            object_type=object_type, object_id=object_id, **kw))

    async def act(self, claims: StaffClaims, action: str, object_type: str, object_id: str,
                  work: Callable[[Tx], Awaitable[Any]], *, personal: bool = False) -> Any:
        """Run an action and its audit record in one transaction; a refusal is audited on its own."""
        async def both(tx: Tx) -> Any:
            result = await work(tx)
            await self.audit.append(tx.session, actor=claims, action=action, object_type=object_type,
                                    object_id=object_id, personal_data=personal)
            return result

        try:
            return await self.service.run(both)
        except Refused as exc:
            await self.record(claims, action, object_type, object_id, success=False, detail=exc.code)
            raise


def web(request: Request) -> Web:
    """The FastAPI dependency every route reaches routing through."""
    w: Web = request.app.state.routing_web
    return w


WebDep = Depends(web)


def staff(*roles: StaffRole, password_change_ok: bool = False) -> Any:
    """``Depends`` giving the caller's StaffClaims (401/403 as yima_kit.auth says) — the runtime's verifier."""
    async def claims(request: Request) -> StaffClaims:
        check = request.app.state.runtime.require_staff(*roles, password_change_ok=password_change_ok).dependency
        result: StaffClaims = await check(request)
        return result

    return Depends(claims)


ANY_STAFF = staff()
OWN_SESSION = staff(password_change_ok=True)  # the password change, logout and refresh
ADMIN = staff(StaffRole.ADMIN)
AUDITOR = staff(StaffRole.ADMIN, StaffRole.ANALYST)
WORKING_STAFF = staff(*WORKING)
SUPERVISING_STAFF = staff(*SUPERVISING)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "code": e["type"],
                   "message": "取值不正确" if e["type"] != "missing" else "缺少必填项"} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"message": "提交的内容有误，请按提示修改", "errors": errors})

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.code, exc.message)
