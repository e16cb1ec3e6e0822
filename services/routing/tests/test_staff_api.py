"""Login, the admin API, unit scoping and the audit chain, against the real database."""

from __future__ import annotations

import io

import pyotp
import pytest
from pypdf import PdfReader
from yima_contracts.codes import StaffRole
from yima_kit.auth import TokenVerifier

pytestmark = pytest.mark.integration
SEED_PASSWORD = "Yima#Demo2026"
HUANGHE, NONGYE = "410105001001", "410105001002"


async def login(routing, username: str, password: str = SEED_PASSWORD, totp: str | None = None):
    body = {"username": username, "password": password}
    if totp:
        body["totp"] = totp
    return await routing.http.post("/api/v1/auth/login", json=body)


async def test_login_issues_a_verifiable_token_with_unit_role_and_path(routing) -> None:
    r = await login(routing, "410105001001-01")  # 黄河社区's dispatcher
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["must_change_password"] is True
    claims = TokenVerifier.from_setting("").verify(body["access_token"], password_change_ok=True)
    assert (claims.unit, claims.role, claims.mfa, claims.pwc) == (HUANGHE, StaffRole.DISPATCHER, False, True)
    assert claims.unit_path == ("410105", "410105001", HUANGHE) and claims.sid
    doc = await routing.db["staff"].find_one({"_id": "410105001001-01"})
    assert doc["password_hash"].startswith("$argon2id$") and SEED_PASSWORD not in str(doc)

    # First login: nothing but the password change until it is done.
    h = {"Authorization": f"Bearer {body['access_token']}"}
    blocked = await routing.http.get(f"/api/v1/units/{HUANGHE}/queue", headers=h)
    assert blocked.status_code == 403 and blocked.json()["errors"][0]["code"] == "password_change_required"
    weak = await routing.http.post("/api/v1/auth/password", headers=h,
                                   json={"current_password": SEED_PASSWORD, "new_password": "123456"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["code"] == "weak_password"
    demo = await routing.http.post("/api/v1/auth/password", headers=h,
                                   json={"current_password": SEED_PASSWORD, "new_password": "YIMA#demo2026"})
    assert demo.status_code == 422 and "演示密码" in demo.json()["message"]
    wrong = await routing.http.post("/api/v1/auth/password", headers=h,
                                    json={"current_password": "not-it", "new_password": "Huanghe#2026!"})
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = await routing.http.post("/api/v1/auth/password", headers=h,
                                 json={"current_password": SEED_PASSWORD, "new_password": "Huanghe#2026!"})
    assert ok.status_code == 200 and ok.json()["changed"] is True and ok.json()["must_change_password"] is False
    # The old session is over; the answer's token opens a new one that works.
    stale = await routing.http.get(f"/api/v1/units/{HUANGHE}/queue", headers=h)
    assert stale.status_code == 401 and stale.json()["errors"][0]["code"] == "session_revoked"
    h = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert (await routing.http.get(f"/api/v1/units/{HUANGHE}/queue", headers=h)).status_code == 200
    assert (await login(routing, "410105001001-01", "Huanghe#2026!")).json()["must_change_password"] is False
    fresh = await routing.http.post("/api/v1/auth/refresh", headers=h)
    assert fresh.status_code == 200 and fresh.json()["access_token"] != ok.json()["access_token"]


async def test_repeated_failures_lock_the_account(routing) -> None:
    user = "410105001002-01"
    for _ in range(5):
        r = await login(routing, user, "wrong-password")
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "invalid_credentials"
    locked = await login(routing, user)  # even the right password, while locked
    assert locked.status_code == 423 and "锁定" in locked.json()["message"]
    unknown = await login(routing, "nobody-here")
    assert unknown.status_code == 401 and unknown.json()["errors"][0]["code"] == "invalid_credentials"


async def test_admins_need_a_second_factor_and_admin_writes_need_it(routing) -> None:
    admin = "410105001-01"  # 丰产路街道's admin
    assert routing.directory.staff[admin].role is StaffRole.ADMIN
    r = await login(routing, admin)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "mfa_not_enrolled"
    # The district admin (signed in with TOTP) enrols the street admin.
    district_admin = routing.token("410105-01", mfa=True)
    uri = (await routing.http.post(f"/api/v1/admin/staff/{admin}/totp", headers=district_admin)).json()["otpauth_uri"]
    secret = pyotp.parse_uri(uri).secret
    assert (await login(routing, admin)).json()["errors"][0]["code"] == "mfa_required"
    assert (await login(routing, admin, totp="000000")).status_code == 401
    ok = await login(routing, admin, totp=pyotp.TOTP(secret).now())
    assert ok.status_code == 200, ok.text
    assert TokenVerifier.from_setting("").verify(ok.json()["access_token"], password_change_ok=True).mfa is True

    no_mfa = routing.token(admin, mfa=False)
    r = await routing.http.put(f"/api/v1/admin/units/{NONGYE}", headers=no_mfa, json={
        "name": "农业路社区", "kind": "community", "parent": "410105001", "reason": "测试"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "mfa_required"


async def test_admin_edits_are_versioned_and_scoped(routing) -> None:
    street_admin = routing.token("410105001-01", mfa=True)
    unit = {"name": "农业路社区（新址）", "kind": "community", "parent": "410105001",
            "jurisdiction": ["农业路", "农科路", "新址小区"], "expected_version": 1,
            "reason": "社区搬迁，更新名称与辖区"}
    r = await routing.http.put(f"/api/v1/admin/units/{NONGYE}", headers=street_admin, json=unit)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    stale = await routing.http.put(f"/api/v1/admin/units/{NONGYE}", headers=street_admin, json=unit)
    assert stale.status_code == 409  # expected_version 1 is gone
    assert routing.app.state.store.current.get(NONGYE).name == "农业路社区（新址）"
    hist = (await routing.http.get(f"/api/v1/admin/history/{NONGYE}", headers=street_admin)).json()["changes"]
    assert [h["version"] for h in hist] == [2]
    assert hist[0]["before"]["name"] == "农业路社区" and hist[0]["reason"] == "社区搬迁，更新名称与辖区"

    other = await routing.http.put("/api/v1/admin/units/410105002001", headers=street_admin, json={
        "name": "改名", "kind": "community", "parent": "410105002", "reason": "越权尝试"})
    assert other.status_code == 403  # another street's community
    new_staff = await routing.http.put("/api/v1/admin/staff/huanghe-new", headers=street_admin, json={
        "name": "阿依古丽·吐尔逊", "unit": HUANGHE, "role": "mediator", "reason": "新入职调解员"})
    assert new_staff.status_code == 200 and new_staff.json()["version"] == 1
    assert routing.app.state.store.current.staff["huanghe-new"].unit == HUANGHE
    cycle = await routing.http.put("/api/v1/admin/units/410105001", headers=routing.token("410105-01", mfa=True),
                                   json={"name": "丰产路街道", "kind": "street", "parent": HUANGHE, "reason": "错误"})
    assert cycle.status_code == 422 and cycle.json()["errors"][0]["code"] == "parent_cycle"
    bad = await routing.http.put("/api/v1/admin/staff/张三", headers=street_admin, json={
        "name": "张三", "unit": HUANGHE, "role": "mediator", "reason": "编号不合规"})
    assert bad.status_code == 422


async def test_rules_are_versioned_data_that_a_district_admin_publishes(routing) -> None:
    admin = routing.token("410105-01", mfa=True)
    current = (await routing.http.get("/api/v1/admin/rules", headers=admin)).json()["active"]
    original = dict(current)
    changed = {**current, "version": "rules-test-2", "rules": [
        {"id": "wages_to_hr_bureau", "when": {"category": ["labour_wages"]}, "target": "unit:JSQ-RSJ",
         "reason": "欠薪案件先由人社局劳动保障监察处理"}, *current["rules"]]}
    r = await routing.http.put("/api/v1/admin/rules", headers=admin, json={"rules": changed, "reason": "试行"})
    assert r.status_code == 200, r.text
    case_id = await routing.submit(category="labour_wages")
    a = await routing.assignment(case_id)
    assert (a["unit_code"], a["rule_id"], a["ruleset_version"]) == ("JSQ-RSJ", "wages_to_hr_bureau", "rules-test-2")

    again = await routing.http.put("/api/v1/admin/rules", headers=admin, json={"rules": changed, "reason": "重复"})
    assert again.status_code == 409
    bad = {**changed, "version": "rules-test-3", "default_unit": "NOPE"}
    assert (await routing.http.put("/api/v1/admin/rules", headers=admin,
                                   json={"rules": bad, "reason": "错误"})).status_code == 422
    street = routing.token("410105001-01", mfa=True)
    assert (await routing.http.put("/api/v1/admin/rules", headers=street,
                                   json={"rules": {**changed, "version": "x"}, "reason": "越权"})).status_code == 403
    versions = (await routing.http.get("/api/v1/admin/rules", headers=admin)).json()["versions"]
    assert [v["version"] for v in versions][-1] == "rules-test-2"
    r = await routing.http.put("/api/v1/admin/rules", headers=admin,
                               json={"rules": {**original, "version": "rules-test-restored"}, "reason": "恢复"})
    assert r.status_code == 200


async def test_a_restart_keeps_admin_edits_and_seeds_nothing_twice(routing) -> None:
    from yima_routing.app import create_app

    app = create_app(routing.settings, consume=False, relay=False, clock=routing.clock, sweep=False)
    async with app.router.lifespan_context(app):
        store = app.state.store
        assert store.current.get(NONGYE).name == "农业路社区（新址）"  # the admin's edit survived the seed
        assert store.current.staff["huanghe-new"].name == "阿依古丽·吐尔逊"
        assert len(store.current.units) == len(routing.directory.units)
        assert await store.seed(routing.directory, None) == 0


async def test_a_dispatcher_of_one_unit_cannot_see_another_units_cases(routing) -> None:
    case_id = await routing.submit()  # → 黄河社区, supervised by 丰产路街道
    own = routing.token("410105001001-01")
    neighbour = routing.token("410105001002-01")  # 农业路社区, same street
    street = routing.token("410105001-02")
    other_street = routing.token("410105002-02")

    assert (await routing.http.get(f"/api/v1/cases/{case_id}", headers=own)).status_code == 200
    assert (await routing.http.get(f"/api/v1/cases/{case_id}", headers=street)).status_code == 200  # supervisor
    for h in (neighbour, other_street):
        assert (await routing.http.get(f"/api/v1/cases/{case_id}", headers=h)).status_code == 404
        assert (await routing.http.get(f"/api/v1/cases/{case_id}/assignments", headers=h)).status_code == 404
    assert (await routing.http.get(f"/api/v1/units/{HUANGHE}/queue", headers=neighbour)).status_code == 403
    q = (await routing.http.get(f"/api/v1/units/{HUANGHE}/queue", headers=own)).json()
    assert case_id in [i["case_id"] for i in q["items"]]
    a = await routing.assignment(case_id)
    r = await routing.http.post(f"/api/v1/assignments/{a['_id']}/pause", headers=neighbour,
                                json={"reason": "越权暂停"})
    assert r.status_code == 404

    detail = (await routing.http.get(f"/api/v1/cases/{case_id}", headers=own)).json()
    assert detail["applicant"]["phone"] != "13812345678" and detail["applicant"]["phone"].endswith("5678")
    refused = await routing.http.get(f"/api/v1/cases/{case_id}", params={"reveal": True}, headers=own)
    assert refused.status_code == 422 and "理由" in refused.json()["message"] and "13812345678" not in refused.text
    why = {"reveal": True, "reason": "回访核实处理结果"}
    revealed = (await routing.http.get(f"/api/v1/cases/{case_id}", params=why, headers=own)).json()
    assert revealed["applicant"]["phone"] == "13812345678"
    rec = await routing.db["audit"].find_one({"action": "case.personal_data.read", "object_id": case_id,
                                              "detail": "revealed：回访核实处理结果"})
    assert rec and rec["personal_data"] is True


async def test_queue_puts_red_then_overdue_then_new_first(routing) -> None:
    blue = await routing.submit(risk="blue")
    red = await routing.submit(risk="red", category="neighbour", unit_code="410105001003")  # → 丰产路街道
    street = routing.token("410105001-02")
    items = (await routing.http.get("/api/v1/units/410105001/queue", headers=street)).json()["items"]
    assert items[0]["risk_level"] == "red" and red in [i["case_id"] for i in items]
    assert blue not in [i["case_id"] for i in items]  # handled by the community, not the street


async def test_every_read_and_action_is_in_a_tamper_evident_audit_chain(routing) -> None:
    audit = routing.db["audit"]
    reads = await audit.count_documents({"action": "case.personal_data.read", "personal_data": True})
    denied = await audit.count_documents({"action": "case.read", "success": False})
    assert reads >= 2 and denied >= 2
    assert await audit.count_documents({"action": "auth.login", "success": False}) >= 5
    analyst = routing.token("410105-06")
    assert (await routing.http.get("/api/v1/admin/audit/verify", headers=analyst)).json()["intact"] is True
    last = await audit.find_one({}, sort=[("_id", -1)])
    await audit.update_one({"_id": last["_id"] - 3}, {"$set": {"actor": "someone-else"}})
    v = (await routing.http.get("/api/v1/admin/audit/verify", headers=analyst)).json()
    assert v["intact"] is False and v["first_bad"] == last["_id"] - 3


async def test_the_assignment_slip_is_a_chinese_pdf_for_the_units_concerned(routing) -> None:
    case_id = await routing.submit()
    a = await routing.assignment(case_id)
    r = await routing.http.get(f"/api/v1/assignments/{a['_id']}/slip.pdf", headers=routing.token("410105001-02"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and b"/FontFile2" in r.content  # the CJK font embedded (yima_kit.pdf)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "矛盾纠纷交办单" in text and "承办单位签收" in text and a.get("case_number", case_id) in text
    assert b"13812345678" not in r.content and "13812345678" not in text
    other = await routing.http.get(f"/api/v1/assignments/{a['_id']}/slip.pdf",
                                   headers=routing.token("410105002-02"))
    assert other.status_code == 404
    assert await routing.db["audit"].count_documents({"action": "assignment.slip.print",
                                                      "object_id": a["_id"]}) == 1
