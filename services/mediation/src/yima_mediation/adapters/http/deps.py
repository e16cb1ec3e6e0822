"""What every router of mediation's API shares: the service reached through a FastAPI dependency (set on the
app by app.py), the roles of each kind of work, the documents' download rules, the error body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from yima_contracts.codes import StaffRole
from yima_kit.runtime import Runtime

from ...application import InsuranceClaims, MediationService

R = StaffRole
ROLES = {
    "manage": (R.ADMIN, R.DISPATCHER, R.LEADER),  # 受理、退回、指定调解员
    "handle": (R.ADMIN, R.DISPATCHER, R.LEADER, R.MEDIATOR),  # 调解的各项工作
    "admin": (R.ADMIN, R.DISPATCHER),  # 登记调解员、专家和调解室
    "stats_staff": (R.ADMIN, R.LEADER, R.ANALYST, R.DISPATCHER),  # 理赔统计
}


def _service(request: Request) -> MediationService:
    return request.app.state.service  # type: ignore[no-any-return]


def _insurance(request: Request) -> InsuranceClaims:
    return request.app.state.insurance  # type: ignore[no-any-return]


Svc = Annotated[MediationService, Depends(_service)]
Ins = Annotated[InsuranceClaims, Depends(_insurance)]

# The documents in full (agreement PDF, transfer package): a query parameter, as the downloads are GETs a
# browser follows; access logs are off in every service, and numbers in it are masked in the audit record.
Reason = Annotated[str | None, Query(max_length=200, description=(
    "下载原件的事由：承办单位受理、调解人员以外的人员必填（至少4个字，记入审计日志）"))]
NO_STORE = {"Cache-Control": "no-store"}  # the parties in full: not kept in a browser's or a proxy's cache


def roles(rt: Runtime, *kinds: str) -> tuple[Any, ...]:
    """The staff dependency of each kind of work named (``ROLES``), in order."""
    return tuple(rt.require_staff(*ROLES[k]) for k in kinds)


def error(status: int, errors: list[dict[str, str]], message: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message or errors[0]["message"], "errors": errors})
