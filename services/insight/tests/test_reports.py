"""日会商、周研判、月分析: the periods (pure), Excel and PDF files that open, the schedule writes each once."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from insight_events import COMMUNITY, DISTRICT, STREET, T0, assigned, closed, submitted, work_order
from openpyxl import load_workbook
from yima_contracts.codes import StaffRole
from yima_insight.core.periods import last_complete, period
from yima_kit.auth import TokenIssuer


def test_periods() -> None:
    d = date(2026, 11, 25)  # a Wednesday
    assert period("daily", d) == (d, d)
    assert period("weekly", d) == (date(2026, 11, 23), date(2026, 11, 29))
    assert period("monthly", d) == (date(2026, 11, 1), date(2026, 11, 30))
    assert last_complete("daily", d) == (date(2026, 11, 24), date(2026, 11, 24))
    assert last_complete("weekly", d) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last_complete("monthly", date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValueError):
        period("yearly", d)


@pytest.mark.integration
async def test_reports_on_demand_and_on_schedule(yima_infra, mongo_db_prefix, tmp_path: Path) -> None:
    from yima_insight.app import create_app
    from yima_insight.config import InsightSettings

    settings = InsightSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                               mongo_db_prefix=mongo_db_prefix, report_schedule=False, report_dir=str(tmp_path))
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        service = app.state.service
        for e in [submitted("r1"), assigned("r1", COMMUNITY, T0), work_order("r1", COMMUNITY, T0),
                  closed("r1", COMMUNITY, True, T0)]:
            await service.apply(e)
        top = {"Authorization": "Bearer " + TokenIssuer.dev().issue(
            staff_id="a", unit=DISTRICT, role=StaffRole.ANALYST, unit_path=[DISTRICT])}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client:
            x = await client.get("/api/v1/reports/monthly.xlsx", params={"date": "2026-11-20"}, headers=top)
            assert x.status_code == 200
            wb = load_workbook(io.BytesIO(x.content))
            assert wb.sheetnames[:2] == ["按单位", "按纠纷类别"] and "打分排名" in wb.sheetnames
            ws = wb["按单位"]
            assert "2026-11-01 至 2026-11-30" in ws["A2"].value
            total = [c.value for c in ws[ws.max_row]]
            assert total[0] == "合计" and total[1] == 1 and total[4] == 1  # received, resolved
            p = await client.get("/api/v1/reports/weekly.pdf", params={"date": "2026-11-20"}, headers=top)
            assert p.status_code == 200 and p.content[:5] == b"%PDF-"
            assert (await client.get("/api/v1/reports/yearly.xlsx", headers=top)).status_code == 404
            assert (await client.get("/api/v1/reports/daily.xlsx", params={"date": "20-11"},
                                     headers=top)).status_code == 422

            reports = app.state.reports
            now = datetime(2026, 12, 2, 1, tzinfo=UTC)
            written = await reports.schedule_once(now)
            assert sorted(written) == sorted(f"{k}|{d}|*|{f}" for k, d in (
                ("daily", "2026-12-01"), ("weekly", "2026-11-23"), ("monthly", "2026-11-01"))
                for f in ("xlsx", "pdf"))
            assert await reports.schedule_once(now) == []  # each period once
            assert (tmp_path / "monthly-2026-11-01.xlsx").is_file()
            listed = await client.get("/api/v1/reports", headers=top)
            assert listed.status_code == 200 and len(listed.json()) == 6
            street = {"Authorization": "Bearer " + TokenIssuer.dev().issue(
                staff_id="s", unit=STREET, role=StaffRole.LEADER, unit_path=[DISTRICT, STREET])}
            assert (await client.get("/api/v1/reports", headers=street)).status_code == 403
