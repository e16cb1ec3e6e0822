"""The dashboard in a real headless Chromium: charts drawn by the bundled ECharts (no internet), the one table,
and a number clicked down to its cases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from insight_events import (
    COMMUNITY,
    COMMUNITY2,
    DISTRICT,
    T0,
    assessed,
    assigned,
    closed,
    feedback,
    rated,
    submitted,
    work_order,
)
from yima_contracts.codes import Category, Channel, FeedbackKind, RiskLevel, StaffRole
from yima_contracts.risk_events import WarningRaised
from yima_devstack.browser import headless_chromium
from yima_devstack.live import free_port, serve_in_thread
from yima_kit.auth import TokenIssuer

pytestmark = pytest.mark.integration
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def live_insight(yima_infra) -> Iterator[tuple[str, object]]:
    from yima_insight.app import create_app
    from yima_insight.config import InsightSettings

    port = free_port()
    settings = InsightSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                               mongo_db_prefix=f"dash{uuid.uuid4().hex[:6]}_", report_schedule=False)
    app = create_app(settings, consume=False, relay=False)
    with serve_in_thread(app, port=port, name="insight"):
        yield f"http://127.0.0.1:{port}", app


def test_dashboard_draws_offline_and_drills_down(live_insight) -> None:
    import asyncio

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, app = live_insight
    service = app.state.service  # type: ignore[attr-defined]
    events = []
    for i, (unit, cat, ok) in enumerate([(COMMUNITY, Category.NEIGHBOUR, True), (COMMUNITY, Category.NEIGHBOUR, False),
                                         (COMMUNITY2, Category.LABOUR_WAGES, True)]):
        c = f"b{i}-{uuid.uuid4().hex[:6]}"
        events += [submitted(c, channel=Channel.GRID, category=cat), assessed(c, RiskLevel.YELLOW, T0 + H),
                   assigned(c, unit, T0 + H), work_order(c, unit, T0 + H),
                   feedback(c, unit, FeedbackKind.ACCEPTED, T0 + 2 * H)]
        if ok:
            events += [closed(c, unit, True, T0 + 3 * H), rated(c, 5, T0 + 4 * H)]
    events.append(WarningRaised(case_id=c, correlation_id=c, occurred_at=T0 + 5 * H, warning_id=f"W-{c}",
                                kind="place_cluster", category=Category.NEIGHBOUR, unit_code=COMMUNITY,
                                case_ids=[c, "x", "y"], window_days=7, threshold=3, message_zh="7天内3起邻里纠纷"))


    # the app's loop runs in the server thread: apply through the HTTP-free service in a fresh client loop
    from yima_insight.adapters.mongo_store import MongoInsightStore
    from yima_insight.service import InsightService
    from yima_kit.mongo import connect

    async def load_direct() -> None:
        settings = app.state.settings  # type: ignore[attr-defined]
        client = connect(settings.mongo_url)
        try:
            svc = InsightService(MongoInsightStore(client[settings.db_name]), weights=service.weights,
                                 target_community=0.7, target_three=0.95)
            for e in events:
                await svc.apply(e)
        finally:
            await client.close()

    asyncio.run(load_direct())
    token = TokenIssuer.dev().issue(staff_id="lead", unit=DISTRICT, role=StaffRole.LEADER, unit_path=[DISTRICT])
    page = httpx.get(f"{url}/dashboard")
    assert page.status_code == 200 and "https://" not in page.text and "/static/echarts.esm.min.js" in page.text

    with headless_chromium() as b:
        b.get(f"{url}/dashboard?from=2026-11-01&to=2026-11-30&by=unit")
        b.execute_script("sessionStorage.setItem('insight_token', arguments[0]);", token)
        t0 = time.monotonic()
        b.get(f"{url}/dashboard?from=2026-11-01&to=2026-11-30&by=unit")
        wait = WebDriverWait(b, 20)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#table tr.total")))
        first_paint = time.monotonic() - t0
        total = b.find_element(By.CSS_SELECTOR, "#table tr.total")
        cells = [td.text for td in total.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == "合计" and cells[1] == "3" and cells[3] == "2"  # received 3, closed 2
        assert "100.0%" in b.find_element(By.ID, "kpis").text  # 调成率 2/2
        # the charts are drawn by the bundled ECharts (a canvas inside each chart box)
        drawn = "return !!window.echarts && document.querySelectorAll('#c-bar canvas, #c-heat canvas').length >= 2"
        wait.until(lambda d: d.execute_script(drawn))
        # click the received number of the street's row: its cases, numbers only
        b.find_element(By.CSS_SELECTOR, "#table tbody tr:not(.total) a[data-measure='received']").click()
        wait.until(ec.visibility_of_element_located((By.ID, "cases")))
        wait.until(lambda d: "共 3 件" in d.find_element(By.ID, "cases-title").text)
        body = b.find_element(By.ID, "cases-body").text
        assert "JSQ-2026-" in body and "张三" not in body and "138" not in body
        # the early warning: listed, and counted in its community's cell of the heat table
        wait.until(lambda d: "预警（1 次）" in d.find_element(By.ID, "warnings-title").text)
        assert "同一地点纠纷聚集" in b.find_element(By.ID, "warnings").text
        assert first_paint < 10  # generous on a shared CI machine; the benchmark measures the real figure
