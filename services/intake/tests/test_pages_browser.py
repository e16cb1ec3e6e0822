"""The applicant's pages in a real headless Chromium (Debian's chromium + chromedriver, driven by selenium):
submit with the unit prefilled from a unit QR code, see the code and QR, track, rate."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import MongoClient
from yima_devstack.browser import headless_chromium

pytestmark = pytest.mark.integration

SHOTS = Path(os.environ.get("YIMA_SCREENSHOT_DIR", "/tmp/yima-intake-screens"))


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with headless_chromium("412,1400") as driver:
        yield driver


def _close_case(live_intake, case_number: str) -> None:
    """Stand in for the case.status projection of a closing step (tested through Kafka elsewhere)."""
    settings = live_intake.app.state.runtime.settings
    client = MongoClient(settings.mongo_url, tz_aware=True)
    try:
        db = client[settings.db_name]
        case = db["cases"].find_one({"case_number": case_number})
        now = datetime.now(UTC)
        db["timeline"].insert_one({"_id": str(uuid.uuid4()), "case_id": case["_id"], "state": "closed",
                                   "title_zh": "案件已办结", "detail_zh": "双方达成调解协议",
                                   "acting_unit_name": "黄河社区", "next_step_zh": "欢迎您对本次处理进行满意度评价",
                                   "occurred_at": now})
        db["cases"].update_one({"_id": case["_id"]}, {"$set": {"state": "closed", "closed_at": now}})
    finally:
        client.close()


def test_submit_track_and_rate_in_chromium(browser, live_intake) -> None:
    from selenium.webdriver.common.by import By

    b = browser
    # A community's QR code opens the form with the community filled in.
    b.get(f"{live_intake.url}/submit?unit=410105001001")
    assert b.find_element(By.ID, "unit").text == "410105001001"
    assert "登记纠纷" in b.title
    # a wrong phone is refused in Chinese and the typed text is kept
    b.find_element(By.ID, "name").send_keys("买买提·艾力")
    b.find_element(By.ID, "phone").send_keys("12345")
    b.find_element(By.ID, "description").send_keys("楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管")
    b.find_element(By.ID, "submit").click()
    assert "电话号码格式不正确" in b.find_element(By.CLASS_NAME, "errors").text
    assert "天花板" in b.find_element(By.ID, "description").get_attribute("value")
    b.save_screenshot(str(SHOTS / "submit-error.png"))

    phone = b.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys("138 1234 5678")
    b.find_element(By.ID, "submit").click()
    case_number = b.find_element(By.ID, "case-number").text
    code = b.find_element(By.ID, "tracking-code").text
    assert case_number.startswith("JSQ-") and len(code.replace("-", "")) == 12
    assert "邻里纠纷" in b.page_source
    qr = b.find_element(By.ID, "qr")
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    assert b.execute_script("return arguments[0].naturalWidth", qr) > 100  # the QR image really renders
    b.save_screenshot(str(SHOTS / "submitted.png"))

    # Track: the code's page asks for the last four digits.
    b.find_element(By.LINK_TEXT, "查看进度").click()
    assert b.find_element(By.ID, "code").get_attribute("value") == code
    b.find_element(By.ID, "check").send_keys("0000")
    b.find_element(By.ID, "track").click()
    assert "未找到该案件" in b.find_element(By.CLASS_NAME, "errors").text
    b.find_element(By.ID, "check").clear()
    b.find_element(By.ID, "check").send_keys("5678")
    b.find_element(By.ID, "track").click()
    assert b.find_element(By.ID, "case-number").text == case_number
    assert "纠纷已登记" in b.find_element(By.ID, "timeline").text
    assert "5678" not in b.page_source.replace('value="5678"', "")  # no personal data shown
    assert "买买提" not in b.page_source
    assert not b.find_elements(By.ID, "rate")  # not closed yet: no rating
    b.save_screenshot(str(SHOTS / "tracking.png"))

    # Once closed, the applicant rates it, once.
    _close_case(live_intake, case_number)
    b.get(f"{live_intake.url}/track/{code}")
    b.find_element(By.ID, "check").send_keys("5678")
    b.find_element(By.ID, "track").click()
    assert "案件已办结" in b.find_element(By.ID, "timeline").text
    b.find_element(By.CSS_SELECTOR, "input[name=score][value='4']").click()
    b.find_element(By.ID, "comment").send_keys("调解员很耐心")
    b.save_screenshot(str(SHOTS / "rate.png"))
    b.find_element(By.ID, "rate").click()
    assert "感谢您的评价" in b.find_element(By.ID, "thanks").text
    assert not b.find_elements(By.ID, "rate")
    b.save_screenshot(str(SHOTS / "rated.png"))


def test_the_home_page_links_to_both_tasks(browser, live_intake) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live_intake.url + "/")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.button")}
    assert links["我要登记纠纷"].endswith("/submit") and links["查询办理进度"].endswith("/track")
    assert browser.execute_script("return document.scripts.length") == 0  # no JavaScript at all
