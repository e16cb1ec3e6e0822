"""The console's mediation pages in a real headless Chromium (Debian's chromium + chromedriver, driven by
selenium): signed in by cookie, the dispatcher opens the mediation queue, opens a new case and accepts it. The
console runs as its own server and calls the mediation server over HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from yima_console.app import create_app as create_console
from yima_console.config import ConsoleSettings
from yima_console.ui import COOKIE
from yima_contracts import Location, Party, UnitCaseAssigned
from yima_contracts.codes import Category, Channel, RiskLevel, StaffRole
from yima_devstack.browser import headless_chromium
from yima_devstack.live import free_port, serve_in_thread
from yima_kit.auth import TokenIssuer
from yima_mediation.app import create_app
from yima_mediation.config import MediationSettings

pytestmark = pytest.mark.integration

SHOTS = Path(os.environ.get("YIMA_SCREENSHOT_DIR", "/tmp/yima-console-screens")) / "mediation"
UNIT = "JSQ-LDTJ"


@pytest.fixture(scope="module")
def live(yima_infra):
    """mediation served by uvicorn on its own event loop in a thread (work orders are put in on that loop), and
    the console in front of it (notify is not running)."""
    settings = MediationSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                                 mongo_db_prefix=f"b{uuid.uuid4().hex[:8]}_", prefetch_font=False)
    app = create_app(settings, consume=False, relay=False)
    with serve_in_thread(app, name="mediation") as server:
        console = create_console(ConsoleSettings(mediation_url=server.url,
                                                 notify_url=f"http://127.0.0.1:{free_port()}",
                                                 routing_url=f"http://127.0.0.1:{free_port()}"))
        with serve_in_thread(console, name="console") as front:
            yield front.url, app, server.loop


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with headless_chromium("1280,1400") as driver:
        yield driver


def _work_order(live) -> UnitCaseAssigned:
    _, app, loop = live
    case_id = str(uuid.uuid4())
    ev = UnitCaseAssigned(
        case_id=case_id, correlation_id=case_id, assignment_id=str(uuid.uuid4()), unit_code=UNIT,
        unit_name="金水区劳动争议人民调解委员会", unit_path=["410105", UNIT], in_platform=True,
        case_number=f"JSQ-2026-{uuid.uuid4().int % 1000000:06d}", channel=Channel.SELF_SERVICE,
        category=Category.LABOUR_WAGES, risk_level=RiskLevel.YELLOW, description="包工头拖欠三个月工资",
        applicant=Party(name="买买提·艾力", phone="13812345678"), location=Location(unit_code="410105001001"),
        supervisor_unit_code="410105", supervisor_unit_name="金水区矛盾纠纷多元化解中心",
        due_at=datetime.now(UTC) + timedelta(days=7))
    ingest = app.state.service.ingest(ev, app.state.runtime.consumers)
    assert asyncio.run_coroutine_threadsafe(ingest, loop).result(timeout=30)
    return ev


def test_accept_a_case_from_the_queue_in_chromium(browser, live) -> None:
    from selenium.webdriver.common.by import By

    url = live[0]
    b = browser
    ev = _work_order(live)
    b.get(f"{url}/console/queue")  # not signed in: the login form
    assert b.find_element(By.ID, "login") and "请先登录" in b.find_element(By.CLASS_NAME, "errors").text
    token = TokenIssuer.dev().issue(staff_id="s-1", unit=UNIT, role=StaffRole.DISPATCHER,
                                    unit_path=("410105", UNIT), name="王受理")
    b.add_cookie({"name": COOKIE, "value": token, "path": "/console", "httpOnly": True, "sameSite": "Strict"})
    b.get(f"{url}/console/queue?state=new")
    assert "调解待办" in b.page_source and "王受理" in b.find_element(By.CLASS_NAME, "who").text
    assert "买买提·艾力" not in b.page_source
    b.save_screenshot(str(SHOTS / "queue.png"))

    b.find_element(By.LINK_TEXT, ev.case_number).click()
    assert b.find_element(By.ID, "state").text == "待受理"
    b.save_screenshot(str(SHOTS / "case-new.png"))
    b.find_element(By.ID, "accept").click()
    # the confirmation exists only on the page after the post: finding it waits for the navigation
    assert "已受理" in b.find_element(By.CLASS_NAME, "ok").text
    assert b.find_element(By.ID, "state").text == "已受理"
    assert "受理，人民调解" in b.find_element(By.ID, "timeline").text
    assert not b.find_elements(By.ID, "accept")  # accepted once: the form is gone
    assert b.execute_script("return document.scripts.length") == 0  # no JavaScript at all
    b.save_screenshot(str(SHOTS / "case-accepted.png"))

    b.find_element(By.CSS_SELECTOR, "#box-claim summary").click()  # the insurance claim form, opened
    b.find_element(By.ID, "claimed").send_keys("3500")
    b.find_element(By.ID, "claim-summary").send_keys("工地事故致手臂骨折")
    b.find_element(By.ID, "claim").click()  # no date: refused in Chinese, what was typed kept
    assert "请填写完整的日期和时间" in b.find_element(By.CLASS_NAME, "errors").text
    assert b.find_element(By.ID, "claimed").get_attribute("value") == "3500"
    assert "出险时间：" in b.find_element(By.CLASS_NAME, "errors").text
    _ = b.find_element(By.ID, "claims").location_once_scrolled_into_view
    b.save_screenshot(str(SHOTS / "case-claim-refused.png"))

    b.find_element(By.ID, "nav-inbox").click()  # notify is down: the page says so, the console still works
    assert "消息暂时无法显示" in b.find_element(By.CLASS_NAME, "errors").text
    b.save_screenshot(str(SHOTS / "inbox-unavailable.png"))
