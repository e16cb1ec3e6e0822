"""Each role's main task in the staff console, in a real headless Chromium, against every service running as
its own process (the e2e platform): sign in with a seeded account (the first sign-in forces a new password),
see the case, act, see the effect. Each account starts from an initial password of this run, set by the
district's admin (a reset forces the change as the first sign-in does): the test depends on no other test
leaving the seeded passwords alone, and no other test on this one. Every page's screenshot is written to
$YIMA_SCREENSHOT_DIR (default /tmp/yima-console-screens/roles) for review; nothing of it is committed.

- 分流员 (the street's dispatcher) re-dispatches a case its community returned, with the rules' suggestion;
- 督办 (the same street) sees an overdue case red, one turning red without a reload, and issues a 催办;
- 分包领导 records the follow-up visit of a red case;
- 管理员 dry-runs a routing rule change on last month's cases, then publishes it;
- 考核 reads the one table (insight's; while insight is not part of the platform the page says so).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from pymongo import AsyncMongoClient
from yima_contracts.codes import StaffRole
from yima_devstack.browser import headless_chromium
from yima_devstack.kafka_tools import wait_for
from yima_kit.auth import TokenIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SHOTS = Path(os.environ.get("YIMA_SCREENSHOT_DIR", "/tmp/yima-console-screens")) / "roles"
INITIAL = f"Chushi#{uuid.uuid4().hex[:6]}A"  # as an admin's reset sets it: to be changed at the first sign-in
NEW_PASSWORD = f"Gongzuo#{uuid.uuid4().hex[:6]}X"
HUANGHE, STREET = "410105001001", "410105001"  # 黄河社区 and its street, 丰产路街道
NAMES = ("欧阳娜娜", "王建国", "李秀英", "张伟", "刘洋", "买买提·艾力", "陈静")
RED_TEXT = "女方悔婚不肯退还彩礼18万，男方扬言要找人来收拾她全家，两家已经在村里打过一架"


def bearer(staff_id: str, unit: str, role: StaffRole, path: tuple[str, ...], mfa: bool = False) -> dict[str, str]:
    tok = TokenIssuer.dev().issue(staff_id=staff_id, unit=unit, role=role, unit_path=path, mfa=mfa)
    return {"Authorization": f"Bearer {tok}"}


STREET_DISPATCHER = bearer("410105001-02", STREET, StaffRole.DISPATCHER, ("410105", STREET))
COMMUNITY_DISPATCHER = bearer("410105001001-01", HUANGHE, StaffRole.DISPATCHER, ("410105", STREET, HUANGHE))


async def submit(platform, description: str, category: str | None = None, unit: str = HUANGHE) -> str:
    # a different resident each time (one applicant's repeated cases would raise the risk)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    name = NAMES[int(phone[-2:]) % len(NAMES)]
    body: dict[str, Any] = {"channel": "self_service", "applicant": {"name": name, "phone": phone},
                            "description": description, "location": {"unit_code": unit}}
    if category:
        body["category"] = category
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as http:
        r = await http.post("/api/v1/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


async def assigned(routing: httpx.AsyncClient, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        r = await routing.get(f"/api/v1/cases/{case_id}/assignments", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["assignments"] else None
    return await wait_for(ready)  # type: ignore[no-any-return]


def shot(b: Any, name: str) -> None:
    b.save_screenshot(str(SHOTS / f"{name}.png"))


def sign_in(b: Any, url: str, user: str, password: str, totp: str = "") -> None:
    from selenium.webdriver.common.by import By

    b.delete_all_cookies()
    b.get(f"{url}/console/login")
    b.find_element(By.ID, "username").send_keys(user)
    b.find_element(By.ID, "password").send_keys(password)
    if totp:
        b.find_element(By.ID, "totp").send_keys(totp)
    b.find_element(By.ID, "login").click()


def forced_change(b: Any, name: str) -> None:
    """The first sign-in with the seeded password lands on the password page; a new one, and on."""
    from selenium.webdriver.common.by import By

    assert "先修改密码" in b.find_element(By.CLASS_NAME, "errors").text
    shot(b, f"{name}-0-password-forced")
    b.find_element(By.ID, "current").send_keys(INITIAL)
    b.find_element(By.ID, "new").send_keys(NEW_PASSWORD)
    b.find_element(By.ID, "again").send_keys(NEW_PASSWORD)
    b.find_element(By.ID, "change-password").click()
    assert "密码已修改" in b.find_element(By.CLASS_NAME, "ok").text


# a row's class and text read at one instant (null while the row is being replaced)
ROW_NOW = "var r=document.getElementById(arguments[0]);return r?[r.className,r.innerText]:null"

async def test_each_role_does_its_main_task_in_the_browser(platform, yima_infra) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    url = platform.procs["console"].url
    routing_db = AsyncMongoClient(yima_infra.mongo_url)[f"{platform.db_prefix}yima_routing"]

    # --- the cases, through intake as residents file them --------------------------------------------------
    returned_id = await submit(platform, "楼上邻居装修噪音很大，晚上十点以后还在施工", "neighbour")
    overdue_id = await submit(platform, "邻居在楼道堆放杂物，多次沟通无果，堵住了消防通道", "neighbour")
    soon_id = await submit(platform, "邻居家的狗经常半夜狂叫，影响休息", "neighbour")
    red_id = await submit(platform, RED_TEXT, "marriage_family")
    await submit(platform, "包工头拖欠我们三个月工资，一共两万多元", "labour_wages")  # for the admin's dry run

    async with httpx.AsyncClient(base_url=platform.procs["routing"].url, timeout=10) as routing:
        ret = await assigned(routing, returned_id, STREET_DISPATCHER)
        r = await routing.post(f"/api/v1/assignments/{ret['assignments'][-1]['assignment_id']}/return",
                               headers=COMMUNITY_DISPATCHER, json={"reason": "噪音扰民应由街道城管协调处理"})
        assert r.status_code == 200, r.text
        over = (await assigned(routing, overdue_id, STREET_DISPATCHER))["assignments"][-1]
        soon = (await assigned(routing, soon_id, STREET_DISPATCHER))["assignments"][-1]
        # time runs in the database: this deadline passed two days ago (another passes below, in sight)
        await routing_db["assignments"].update_one({"_id": over["assignment_id"]},
                                                   {"$set": {"due_at": datetime.now(UTC) - timedelta(days=2)}})
        red = await assigned(routing, red_id, STREET_DISPATCHER)
        leader = red["leader"]["staff_id"]
        # the district admin signs in with a second factor: enrolled by a (development) admin token
        admin = bearer("410105-01", "410105", StaffRole.ADMIN, ("410105",), mfa=True)
        uri = (await routing.post("/api/v1/admin/staff/410105-01/totp", headers=admin)).json()["otpauth_uri"]
        for who in ("410105001-02", leader, "410105-01", "410105-06"):  # initial passwords of this run
            r = await routing.post(f"/api/v1/admin/staff/{who}/password", headers=admin, json={"password": INITIAL})
            assert r.status_code == 200 and r.json() == {"must_change_password": True}, r.text
        for who in ("410105-01", "410105-06"):  # admin and analyst: their first password changed already
            tok = bearer(who, "410105", StaffRole.ADMIN if who.endswith("01") else StaffRole.ANALYST, ("410105",))
            r = await routing.post("/api/v1/auth/password", headers=tok,
                                   json={"current_password": INITIAL, "new_password": NEW_PASSWORD})
            assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=platform.procs["risk"].url, timeout=10) as risk:
        lead_tok = bearer(leader, STREET, StaffRole.LEADER, ("410105", STREET))

        async def led() -> bool:
            res = await risk.get("/api/v1/leader/cases", headers=lead_tok)
            return res.status_code == 200 and red_id in [c["case_id"] for c in res.json()["cases"]]
        await wait_for(led)

    started = time.monotonic()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.monotonic() - started - sum(phases.values()), 1)

    with headless_chromium("1366,900") as b:
        wait = WebDriverWait(b, 30)
        # --- 分流员: the returned case, the rules' suggestion, re-dispatched with a reason -------------------
        sign_in(b, url, "410105001-02", INITIAL)
        forced_change(b, "1-dispatcher")
        b.get(f"{url}/console/dispatch")
        card = b.find_element(By.ID, f"waiting-{returned_id}")
        assert "噪音扰民应由街道城管协调处理" in card.text and "建议分派给" in card.text and "依据" in card.text
        suggested = card.find_element(By.CLASS_NAME, "suggested").text
        assert suggested and "黄河" not in suggested  # not the unit that returned it
        shot(b, "1-dispatcher-returned-case")
        card.find_element(By.ID, f"redispatch-{returned_id}-reason").send_keys("按规则建议改派，请尽快联系申请人")
        card.find_element(By.ID, f"redispatch-{returned_id}").click()
        assert "已分派" in b.find_element(By.CLASS_NAME, "ok").text
        assert not b.find_elements(By.ID, f"waiting-{returned_id}")
        shot(b, "1-dispatcher-redispatched")
        lap("dispatcher")

        # --- 督办: overdue in red, one turning red without a reload, a 催办 --------------------------------
        await routing_db["assignments"].update_one({"_id": soon["assignment_id"]},
                                                   {"$set": {"due_at": datetime.now(UTC) + timedelta(seconds=8)}})
        b.get(f"{url}/console/supervise")
        # the page's own refresh may replace the rows at any moment: read class and text in one script, not
        # through an element that the next refresh makes stale
        over_now = b.execute_script(ROW_NOW, f"row-{over['assignment_id']}")
        assert over_now and "overdue" in over_now[0] and "逾期" in over_now[1], over_now
        soon_row = f"row-{soon['assignment_id']}"
        soon_now = b.execute_script(ROW_NOW, soon_row)
        assert soon_now and "overdue" not in soon_now[0], soon_now
        shot(b, "2-supervisor-list")
        turned = wait.until(lambda d: (r := d.execute_script(ROW_NOW, soon_row)) and "overdue" in r[0] and r)
        assert "已逾期" in turned[1]  # no reload: the page's clock turned it
        shot(b, "2-supervisor-turned-red")
        b.get(f"{url}/console/supervise?only=overdue")
        row = b.find_element(By.ID, f"row-{over['assignment_id']}")
        row.find_element(By.TAG_NAME, "summary").click()
        row.find_element(By.ID, f"reason-{over['assignment_id']}").send_keys("已逾期两天，请今日内联系申请人并反馈")
        row.find_element(By.ID, f"urge-{over['assignment_id']}").click()
        assert "已发出催办" in b.find_element(By.CLASS_NAME, "ok").text
        assert "已催办1次" in b.find_element(By.ID, f"row-{over['assignment_id']}").text
        shot(b, "2-supervisor-urged")
        lap("supervisor")

        # --- 分包领导: the red case, why, and the follow-up visit -------------------------------------------
        sign_in(b, url, leader, INITIAL)
        forced_change(b, "3-leader")
        b.get(f"{url}/console/leader")
        card = b.find_element(By.ID, f"red-{red_id}")
        assert "为什么是红色" in card.text and "等级变化" in card.text and "回头看" in card.text
        shot(b, "3-leader-red-cases")
        card.find_element(By.TAG_NAME, "summary").click()
        card.find_element(By.ID, f"note-{red_id}").send_keys("入户走访双方家庭，已稳定情绪，约定下周再次调解")
        card.find_element(By.ID, f"visit-{red_id}").click()
        assert "已登记回访" in b.find_element(By.CLASS_NAME, "ok").text
        assert "入户走访双方家庭" in b.find_element(By.ID, f"red-{red_id}").text
        shot(b, "3-leader-visit-recorded")
        lap("leader")

        # --- 管理员: a rule change, its dry run on last month's cases, then published ---------------------------
        sign_in(b, url, "410105-01", NEW_PASSWORD, pyotp.parse_uri(uri).now())
        b.get(f"{url}/console/admin?tab=rules")
        rules = json.loads(b.find_element(By.ID, "rules-json").get_attribute("value"))
        original = json.loads(json.dumps(rules))
        version = f"rules-console-e2e-{uuid.uuid4().hex[:6]}"
        rules["version"] = version
        rules["rules"].insert(0, {"id": "wages_to_hr_bureau", "when": {"category": ["labour_wages"]},
                                  "target": "unit:JSQ-RSJ", "reason": "欠薪案件先由人社局劳动保障监察处理"})
        b.execute_script("arguments[0].value = arguments[1]", b.find_element(By.ID, "rules-json"),
                         json.dumps(rules, ensure_ascii=False, indent=2))
        assert not b.find_elements(By.ID, "publish")  # no publishing before a dry run
        b.find_element(By.ID, "dry-run-button").click()
        changed = int(b.find_element(By.ID, "dry-changed").text)
        assert changed >= 1 and "人力资源和社会保障局" in b.find_element(By.ID, "dry-run").text
        shot(b, "4-admin-dry-run")
        b.find_element(By.ID, "rules-sure").click()
        b.find_element(By.ID, "rules-reason").send_keys("欠薪案件试行先交人社局处理")
        b.find_element(By.ID, "publish").click()
        assert "新版分流规则已发布" in b.find_element(By.CLASS_NAME, "ok").text
        assert version in b.find_element(By.ID, "rule-versions").text
        shot(b, "4-admin-published")
        lap("admin")

        # --- 考核: the one table (read-only) ----------------------------------------------------------------
        sign_in(b, url, "410105-06", NEW_PASSWORD)
        wait.until(ec.presence_of_element_located((By.ID, "dashboard")))
        assert re.search(r"/console/analyst", b.current_url)
        assert b.find_element(By.ID, "insight-table").text
        assert not b.find_elements(By.CSS_SELECTOR, "main form[method=post]")  # nothing to change here
        shot(b, "5-analyst-table")
        lap("analyst")

        # the same page on a phone: the supervision list reads as cards
        b.set_window_size(390, 844)
        sign_in(b, url, "410105001-02", NEW_PASSWORD)
        b.get(f"{url}/console/supervise")
        shot(b, "6-phone-supervise")
        lap("phone")
    # a bound against a hang or a slow regression, not a speed target (2 cores shared with other work)
    assert time.monotonic() - started < 120, f"the browser part should stay under two minutes: {phases}"
    # the platform is shared with the other end-to-end tests: the rules as they were, as a newer version
    async with httpx.AsyncClient(base_url=platform.procs["routing"].url, timeout=10) as routing:
        r = await routing.put("/api/v1/admin/rules", headers=admin, json={
            "rules": {**original, "version": f"{original['version']}-restored-{uuid.uuid4().hex[:4]}"},
            "reason": "端到端测试结束，恢复原规则"})
        assert r.status_code == 200, r.text
