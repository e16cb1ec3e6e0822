"""What the staff console needs from routing beyond the older API: a 催办 and an escalation by hand, the
summons a unit leads or answers, a rule set's dry run over last month's cases, and the queue's countdowns."""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = pytest.mark.integration
STREET, HUANGHE = "410105001", "410105001001"


async def test_the_supervisor_urges_and_escalates_by_hand_and_the_queue_counts_down(routing) -> None:
    case_id = await routing.submit()  # → 黄河社区, supervised by 丰产路街道
    a = await routing.assignment(case_id)
    street, own = routing.token("410105001-02"), routing.token("410105001001-01")
    q = (await routing.http.get(f"/api/v1/units/{STREET}/queue", params={"scope": "supervised"},
                                headers=street)).json()
    item = next(i for i in q["items"] if i["case_id"] == case_id)
    assert item["working_days_left"] >= 1 and item["urged"] == 0 and item["pause_reason"] is None

    # only the supervising unit presses; the handling unit cannot urge itself
    assert (await routing.http.post(f"/api/v1/assignments/{a['_id']}/urge", headers=own,
                                    json={"reason": "自己催自己"})).status_code == 404
    r = await routing.http.post(f"/api/v1/assignments/{a['_id']}/urge", headers=street,
                                json={"reason": "群众反映强烈，请今日联系申请人"})
    assert r.status_code == 200, r.text
    notices = await routing.staged(case_id, "case.supervision_notice")
    assert notices[-1]["actor"]["kind"] == "staff" and "【催办】" in notices[-1]["message_zh"]
    assert "群众反映强烈" in notices[-1]["message_zh"] and notices[-1]["unit_code"] == HUANGHE
    q = (await routing.http.get(f"/api/v1/units/{STREET}/queue", params={"scope": "supervised"},
                                headers=street)).json()
    assert next(i for i in q["items"] if i["case_id"] == case_id)["urged"] == 1

    r = await routing.http.post(f"/api/v1/assignments/{a['_id']}/escalate", headers=street,
                                json={"reason": "社区无力化解，提级街道办理"})
    assert r.status_code == 200, r.text
    new = await routing.db["assignments"].find_one({"_id": r.json()["assignment_id"]})
    assert new["unit_code"] == STREET and new["escalated_from"] == a["_id"] and new["rule_id"] == "escalated_manual"
    esc = await routing.staged(case_id, "case.escalated")
    assert esc[-1]["reason"] == "manual"
    again = await routing.http.post(f"/api/v1/assignments/{a['_id']}/urge", headers=street,
                                    json={"reason": "已提级的旧交办"})
    assert again.status_code == 409


async def test_a_summoned_unit_sees_the_summons_and_the_lead_sees_who_reported(routing) -> None:
    case_id = await routing.submit()
    own = routing.token("410105001001-01")
    r = await routing.http.post(f"/api/v1/cases/{case_id}/joint", headers=own,
                                json={"unit_codes": ["JSQ-SFJ"], "reason": "需司法所协助调解"})
    assert r.status_code == 200, r.text
    jid = r.json()["joint_id"]
    lead = (await routing.http.get(f"/api/v1/units/{HUANGHE}/joint", headers=own)).json()["joint"]
    assert [j["joint_id"] for j in lead if j["lead"]] == [jid]
    sfj = routing.token("jsq-sfj-01")
    mine = (await routing.http.get("/api/v1/units/JSQ-SFJ/joint", headers=sfj)).json()["joint"]
    assert [j["joint_id"] for j in mine] == [jid] and mine[0]["lead"] is False and mine[0]["case_number"]
    assert (await routing.http.get(f"/api/v1/units/{HUANGHE}/joint", headers=sfj)).status_code == 403
    assert (await routing.http.post(f"/api/v1/joint/{jid}/report", headers=sfj,
                                    json={"note": "已派员到场"})).status_code == 200
    lead = (await routing.http.get(f"/api/v1/units/{HUANGHE}/joint", headers=own)).json()["joint"]
    assert lead[0]["units"]["JSQ-SFJ"]["note"] == "已派员到场"


async def test_a_dry_run_says_which_of_last_months_cases_a_rule_change_would_move(routing) -> None:
    admin = routing.token("410105-01", mfa=True)
    wages = await routing.submit(category="labour_wages")
    routing.clock.t -= timedelta(days=40)
    old = await routing.submit(category="labour_wages")  # before the month looked at
    routing.clock.t += timedelta(days=40)
    await routing.submit(category="neighbour")
    current = (await routing.http.get("/api/v1/admin/rules", headers=admin)).json()["active"]
    tried = {**current, "version": "dry-run-1", "rules": [
        {"id": "wages_to_hr_bureau", "when": {"category": ["labour_wages"]}, "target": "unit:JSQ-RSJ",
         "reason": "欠薪案件先由人社局处理"}, *current["rules"]]}
    r = await routing.http.post("/api/v1/admin/rules/dry-run", headers=admin, json={"rules": tried, "days": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    moved = {x["case_id"]: x for x in body["examples"]}
    assert wages in moved and old not in moved and body["changed"] == len(moved) <= body["cases"]
    assert moved[wages]["to_unit_code"] == "JSQ-RSJ" and moved[wages]["to_rule"] == "wages_to_hr_bureau"
    assert body["to_units"]["JSQ-RSJ"] == body["changed"]
    # nothing published: the active rules are unchanged
    assert (await routing.http.get("/api/v1/admin/rules", headers=admin)).json()["active"]["version"] \
        == current["version"]
    bad = await routing.http.post("/api/v1/admin/rules/dry-run", headers=admin,
                                  json={"rules": {**tried, "default_unit": "NOPE"}})
    assert bad.status_code == 422
    dispatcher = routing.token("410105-02")
    assert (await routing.http.post("/api/v1/admin/rules/dry-run", headers=dispatcher,
                                    json={"rules": tried})).status_code == 403
