"""Insight's staff API: the one table, the cases behind a number, rankings, heat table, risk trend."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from yima_kit.auth import StaffClaims

from ..core.facts import CST
from ..core.table import BY, BadQuery, parse_range
from ..service import InsightService
from .mediation_client import MediationClaims


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadQuery)
    async def bad_query(_: Request, exc: BadQuery) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(PermissionError)
    async def forbidden(_: Request, exc: PermissionError) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "无权查看"}, status_code=403)


def default_range(start: str | None, end: str | None) -> tuple[date, date]:
    from datetime import datetime

    today = datetime.now(CST).date()
    return parse_range(start or (today - timedelta(days=29)).isoformat(), end or today.isoformat())


def router(service: InsightService, require_staff: Any, claims_source: MediationClaims) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["insight"])
    any_staff = require_staff()  # every staff role reads; nothing here writes (analysts 考核 read only)
    _table_routes(r, service, any_staff)
    _view_routes(r, service, any_staff)

    @r.get("/insurance", summary="民生保险理赔 Claims decided and paid per year (mediation's figures)")
    async def insurance(
        request: Request, start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        scope = await service.scope_for(claims, unit)
        years = list(range(max(a.year, b.year - 9), b.year + 1))
        narrowed = unit if unit and unit != claims.unit else None
        result = await claims_source.per_year(request.headers.get("authorization", ""), years, narrowed)
        return {"unit": None if scope == "*" else scope, **result}

    return r


def _table_routes(r: APIRouter, service: InsightService, any_staff: Any) -> None:
    """The one table and the cases behind each of its numbers."""

    @r.get("/table", summary="一张表 The one table")
    async def one_table(
        start: str | None = Query(None, alias="from", description="YYYY-MM-DD (received on or after)"),
        end: str | None = Query(None, alias="to", description="YYYY-MM-DD (received on or before)"),
        by: str = Query("unit", description="|".join(BY)),
        unit: str | None = Query(None, max_length=64, description="a unit code: its figures and those below"),
        claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        scope = await service.scope_for(claims, unit)
        return await service.table(scope, by, a, b)

    @r.get("/cases", summary="数字背后的案件 The cases behind a number")
    async def cases(
        start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), by: str | None = Query(None), key: str | None = Query(None),
        measure: str = Query("received"), offset: int = Query(0, ge=0, le=100000), limit: int = Query(50, ge=1, le=500),
        claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        scope = await service.scope_for(claims, unit)
        return await service.cases(scope, a, b, by=by, key=key, measure=measure, skip=offset, limit=limit)

    @r.get("/units", summary="可查看的单位 Units the viewer may choose")
    async def units(claims: StaffClaims = any_staff) -> list[dict[str, Any]]:
        return await service.units(await service.scope_for(claims, None))


def _view_routes(r: APIRouter, service: InsightService, any_staff: Any) -> None:
    """What officials look at beside the table: ranking, early warnings, risk levels over time."""

    @r.get("/ranking", summary="打分排名 Unit ranking against the targets")
    async def ranking(
        start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        return await service.ranking(await service.scope_for(claims, unit), a, b)

    @r.get("/heat", summary="预警热力表 Cases and early warnings by community × category")
    async def heat(
        start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        return await service.heat(await service.scope_for(claims, unit), a, b)

    @r.get("/warnings", summary="预警 Early warnings raised at places in the viewer's scope")
    async def warnings(
        start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        return await service.warnings(await service.scope_for(claims, unit), a, b)

    @r.get("/risk-trend", summary="风险等级走势 Risk levels over time")
    async def risk_trend(
        start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
        unit: str | None = Query(None, max_length=64), gran: str = Query("d", pattern="^(d|m)$"),
        claims: StaffClaims = any_staff,
    ) -> dict[str, Any]:
        a, b = default_range(start, end)
        if gran == "d" and (b - a).days > 400:
            raise HTTPException(422, "按日走势最多400天，请按月查看")
        return await service.risk_trend(await service.scope_for(claims, unit), a, b, gran)
