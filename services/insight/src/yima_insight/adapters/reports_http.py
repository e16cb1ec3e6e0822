"""日会商、周研判、月分析: reports on demand (Excel or PDF) and on schedule (kept in the database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from yima_kit.auth import StaffClaims
from yima_kit.logging import get_logger
from yima_kit.pdf import FontUnavailable, ensure_cjk_font

from ..config import InsightSettings
from ..core.facts import CST
from ..core.periods import KINDS, last_complete, period
from ..core.rollup import ALL
from ..service import InsightService
from . import report_files

log = get_logger(__name__)
MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


class Reports:
    def __init__(self, service: InsightService, settings: InsightSettings) -> None:
        self.service = service
        self.settings = settings

    async def build(self, kind: str, day: date, scope: str) -> dict[str, Any]:
        a, b = period(kind, day)
        tables = []
        for by, title in (("unit", "按单位"), ("category", "按纠纷类别"), ("channel", "按受理渠道"),
                          ("level", "按风险等级"), ("mode", "按办理方式")):
            tables.append((title, await self.service.table(scope, by, a, b)))
        ranking = await self.service.ranking(scope, a, b)
        first = tables[0][1]
        return {"title": f"矛盾纠纷{KINDS[kind]}报告", "kind": kind, "from": a.isoformat(), "to": b.isoformat(),
                "unit_name": first["unit_name"], "as_of": (first["as_of"] or "")[:19], "tables": tables,
                "ranking": ranking["rows"]}

    async def render(self, kind: str, day: date, scope: str, fmt: str) -> bytes:
        report = await self.build(kind, day, scope)
        if fmt == "xlsx":
            return await asyncio.to_thread(report_files.xlsx, report)
        cache = await asyncio.to_thread(lambda: Path(self.settings.font_cache_dir).expanduser())
        font = await asyncio.to_thread(ensure_cjk_font, self.settings.cjk_font, cache, "PDF报表")
        return await asyncio.to_thread(report_files.pdf, report, font)

    async def schedule_once(self, now: datetime | None = None) -> list[str]:
        """Write each kind's newest ended period for the whole district if not yet written; returns ids."""
        today = (now or datetime.now(UTC)).astimezone(CST).date()
        col = self.service.store.reports  # type: ignore[attr-defined]
        written = []
        for kind in KINDS:
            a, _ = last_complete(kind, today)
            for fmt in ("xlsx", "pdf"):
                rid = f"{kind}|{a.isoformat()}|{ALL}|{fmt}"
                if await col.find_one({"_id": rid}, {"_id": 1}):
                    continue
                try:
                    data = await self.render(kind, a, ALL, fmt)
                except FontUnavailable:
                    log.warning("scheduled pdf report skipped: no CJK font", kind=kind)
                    continue
                await col.update_one({"_id": rid}, {"$setOnInsert": {"kind": kind, "from": a.isoformat(),
                                                                     "fmt": fmt, "at": datetime.now(UTC),
                                                                     "data": data}}, upsert=True)
                if self.settings.report_dir:
                    await asyncio.to_thread(_keep, self.settings.report_dir, f"{kind}-{a.isoformat()}.{fmt}", data)
                written.append(rid)
        return written

    async def schedule_forever(self, every_seconds: float = 3600, first_after_seconds: float = 300) -> None:
        await asyncio.sleep(first_after_seconds)  # not while the platform starts: rendering PDFs is heavy
        while True:
            try:
                await self.schedule_once()
            except Exception as exc:  # a report must never stop the consumers
                log.error("scheduled report failed", error=type(exc).__name__)
            await asyncio.sleep(every_seconds)


def _keep(directory: str, name: str, data: bytes) -> None:
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(data)


def router(reports: Reports, require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    any_staff = require_staff()

    @r.get("/{kind}.{fmt}", summary="日会商、周研判、月分析 as Excel or PDF, on demand")
    async def report(kind: str, fmt: str, day: str | None = Query(None, alias="date", description="YYYY-MM-DD"),
                     unit: str | None = Query(None, max_length=64), claims: StaffClaims = any_staff) -> Response:
        if kind not in KINDS or fmt not in MEDIA:
            raise HTTPException(404, "报表类型只能是 daily|weekly|monthly，格式 xlsx|pdf")
        try:
            d = date.fromisoformat(day) if day else datetime.now(CST).date()
        except ValueError as exc:
            raise HTTPException(422, "日期格式应为 YYYY-MM-DD") from exc
        scope = await reports.service.scope_for(claims, unit)
        try:
            data = await reports.render(kind, d, scope, fmt)
        except FontUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        a, _ = period(kind, d)
        name = f"{kind}-{a.isoformat()}.{fmt}"
        return Response(data, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @r.get("", summary="定时生成的报表 Reports written on schedule (whole district)")
    async def listing(claims: StaffClaims = any_staff) -> list[dict[str, Any]]:
        if await reports.service.scope_for(claims, None) != ALL:
            raise HTTPException(403, "定时报表为全区数据，请按本单位生成报表")
        col = reports.service.store.reports  # type: ignore[attr-defined]
        return [{"id": d["_id"], "kind": d["kind"], "from": d["from"], "fmt": d["fmt"], "at": d["at"].isoformat()}
                async for d in col.find({}, {"data": 0}).sort("at", -1).limit(100)]

    return r
