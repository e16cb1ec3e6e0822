"""Channels, staff tokens, per-channel rules, 接件即办, emergencies, repeat reports, rating, QR codes, rate limits
— in-process app against the real MongoDB-protocol server (what is staged in the outbox is what Kafka gets)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import segno
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState, StaffRole
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings
from yima_kit.auth import TokenIssuer

pytestmark = pytest.mark.integration

CENTRE = "410105001"
ISSUER = TokenIssuer.dev()


def token(role: StaffRole = StaffRole.DISPATCHER, unit: str = CENTRE) -> dict[str, str]:
    t = ISSUER.issue(staff_id=f"s-{role.value}", unit=unit, role=role, unit_path=("4101", "410105", unit))
    return {"Authorization": f"Bearer {t}"}


def case(channel: str = "self_service", phone: str | None = None, **extra):
    return {
        "channel": channel,
        "applicant": {"name": "欧阳娜娜", "phone": phone or f"139{uuid.uuid4().int % 10**8:08d}"},
        "description": "包工头拖欠我们三个月工资，一共两万多元",
        **extra,
    }


async def make_api(yima_infra, prefix: str, **overrides):
    settings = IntakeSettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url, mongo_db_prefix=prefix,
        submit_rate_per_minute=overrides.pop("rate", 1000), public_base_url="https://yima.example.cn", **overrides,
    )
    return create_app(settings, consume=False, relay=False)


@pytest.fixture
async def api(yima_infra, mongo_db_prefix):
    app = await make_api(yima_infra, mongo_db_prefix)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            client.db = app.state.runtime.db  # type: ignore[attr-defined]
            client.service = app.state.intake  # type: ignore[attr-defined]
            yield client


async def staged(api, case_id: str, topic: str) -> list[dict]:
    return [d async for d in api.db["outbox"].find({"key": case_id, "topic": topic}).sort("_id", 1)]


def payload(doc: dict) -> dict:
    return json.loads(doc["payload"])


async def test_staff_channels_need_a_valid_staff_token_of_a_fitting_role(api) -> None:
    r = await api.post("/api/v1/cases", json=case("reception"))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "staff_required"
    assert "工作人员" in r.json()["message"]
    r = await api.post("/api/v1/cases", json=case("reception"), headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "invalid_token"
    r = await api.post("/api/v1/cases", json=case("reception"), headers=token(StaffRole.MEDIATOR))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "role_not_allowed"
    r = await api.post("/api/v1/cases", json=case("reception"), headers=token())
    assert r.status_code == 201, r.text
    doc = await api.db["cases"].find_one({"_id": r.json()["case_id"]})
    assert doc["channel"] == "reception" and doc["registered_by"]["unit"] == CENTRE
    assert doc["location_unit_code"] == CENTRE  # a desk registers disputes of its own area by default
    assert await api.db["cases"].count_documents({}) == 1


@pytest.mark.parametrize(
    "channel,extra,field,code",
    [
        ("proxy", {}, "proxy", "missing"),
        ("court_referral", {}, "court_reference", "missing"),
        ("hotline_12345", {}, "external_reference", "missing"),
        ("police_110", {}, "external_reference", "missing"),
        ("reception", {"court_reference": "(2026)豫0105民诉前1号"}, "court_reference", "not_allowed"),
        ("hotline_12345", {"external_reference": "GD1", "settled_on_spot": True, "settlement_note": "已处理"},
         "settled_on_spot", "not_allowed"),
        ("reception", {"settled_on_spot": True}, "settlement_note", "missing"),
    ],
)
async def test_per_channel_rules_are_told_in_chinese(api, channel, extra, field, code) -> None:
    r = await api.post("/api/v1/cases", json=case(channel, **extra), headers=token())
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and e["code"] == code for e in r.json()["errors"]), r.json()
    assert await api.db["cases"].count_documents({}) == 0


async def test_grid_worker_reports_from_the_grid(api) -> None:
    r = await api.post("/api/v1/cases", json=case("grid"), headers=token(StaffRole.GRID_WORKER, "410105001001G1"))
    assert r.status_code == 201, r.text  # the grid defaults to the worker's own unit
    r = await api.post("/api/v1/cases", json=case("reception"), headers=token(StaffRole.GRID_WORKER))
    assert r.status_code == 403


async def test_proxy_records_who_submitted_for_whom_and_the_consent(api) -> None:
    body = case("proxy", proxy={"submitter": {"name": "李小红", "phone": "13700001111"}, "relation": "女儿",
                                "consent": "verbal_recorded"})
    r = await api.post("/api/v1/cases", json=body, headers=token())
    assert r.status_code == 201, r.text
    doc = await api.db["cases"].find_one({"_id": r.json()["case_id"]})
    assert doc["proxy"]["relation"] == "女儿" and doc["proxy"]["consent"] == "verbal_recorded"
    assert "13700001111" not in str(doc) and "李小红" not in str(doc)  # encrypted at rest
    [sub] = await staged(api, r.json()["case_id"], "case.submitted")
    event = payload(sub)
    assert event["proxy"]["submitter"]["name"] == "李小红" and event["channel"] == "proxy"
    assert event["actor"]["kind"] == "staff" and event["actor"]["unit_code"] == CENTRE


async def test_court_referral_carries_the_courts_reference(api) -> None:
    ref = "(2026)豫0105民诉前调1234号"
    r = await api.post("/api/v1/cases", json=case("court_referral", court_reference=ref), headers=token())
    assert r.status_code == 201, r.text
    [sub] = await staged(api, r.json()["case_id"], "case.submitted")
    assert payload(sub)["court_reference"] == ref


async def test_resident_id_is_validated_where_given(api) -> None:
    bad = case()
    bad["applicant"]["resident_id"] = "11010519491231002Y"
    r = await api.post("/api/v1/cases", json=bad)
    assert r.status_code == 422 and any("身份证" in e["message"] for e in r.json()["errors"])
    good = case()
    good["applicant"]["resident_id"] = "11010519491231002x"
    r = await api.post("/api/v1/cases", json=good)
    assert r.status_code == 201, r.text
    doc = await api.db["cases"].find_one({"_id": r.json()["case_id"]})
    assert "11010519491231002X" not in str(doc)


async def test_settled_on_the_spot_is_resolved_and_closed_at_intake(api) -> None:
    body = case("reception", settled_on_spot=True, settlement_note="经窗口调解，老板当场承诺周五前结清工资")
    r = await api.post("/api/v1/cases", json=body, headers=token())
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "closed"
    steps = [payload(d) for d in await staged(api, r.json()["case_id"], "case.status")]
    assert [s["state"] for s in steps] == ["submitted", "resolved", "closed"]
    assert "老板" not in str(steps)  # the note is the staff's, not the public timeline's
    [sub] = await staged(api, r.json()["case_id"], "case.submitted")
    assert payload(sub)["settled_on_spot"] is True


async def test_an_emergency_is_flagged_at_once(api) -> None:
    body = case(description="楼下有一群人拿着棍子聚集在工地门口，要找老板讨薪，马上要打起来了", emergency=True,
                party_count=30)
    r = await api.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    [sub] = await staged(api, r.json()["case_id"], "case.submitted")
    assert payload(sub)["emergency"] is True and payload(sub)["party_count"] == 30
    steps = [payload(d) for d in await staged(api, r.json()["case_id"], "case.status")]
    assert any(s["title_zh"] == "已启动应急联办" for s in steps)


async def test_a_repeat_report_is_linked_to_the_first_case_and_counted(api) -> None:
    phone = "13912345678"
    first = await api.post("/api/v1/cases", json=case(phone=phone))
    assert first.status_code == 201
    again = case("hotline_12345", phone=phone, external_reference="GD20261123001",
                 description="老板拖欠我三个月工资两万多元一直不给，已经找过好几次了")
    r = await api.post("/api/v1/cases", json=again, headers=token())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["repeat"] and body["repeat_count"] == 2 and body["case_id"] == first.json()["case_id"]
    assert body["tracking_code"] is None
    assert await api.db["cases"].count_documents({}) == 1
    [upd] = await staged(api, first.json()["case_id"], "case.updated")
    assert payload(upd)["kind"] == "repeat_report" and payload(upd)["repeat_count"] == 2
    assert payload(upd)["repeat_channel"] == "hotline_12345"
    # another dispute of the same person is a new case
    other = case(phone=phone, description="楼上邻居家卫生间漏水，把我家天花板泡坏了")
    r = await api.post("/api/v1/cases", json=other)
    assert r.status_code == 201 and not r.json()["repeat"]
    # the same dispute of another person is a new case too
    r = await api.post("/api/v1/cases", json=case())
    assert r.status_code == 201 and not r.json()["repeat"]


async def test_rating_only_once_and_only_when_closed(api) -> None:
    r = await api.post("/api/v1/cases", json=case(phone="13800004321"))
    code, case_id = r.json()["tracking_code"], r.json()["case_id"]
    early = await api.post(f"/api/v1/track/{code}/rating", json={"check": "4321", "score": 5})
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_closed"
    wrong = await api.post(f"/api/v1/track/{code}/rating", json={"check": "0000", "score": 5})
    assert wrong.status_code == 404

    closed = CaseStatusChanged(case_id=case_id, correlation_id=case_id, state=CaseState.CLOSED, title_zh="案件已办结")
    from yima_kit.mongo import in_transaction

    svc = api.service
    await in_transaction(svc.client, lambda s: svc.record_status(closed, s))
    view = (await api.get(f"/api/v1/track/{code}", params={"check": "4321"})).json()
    assert view["can_rate"] is True

    ok = await api.post(f"/api/v1/track/{code}/rating", json={"check": "4321", "score": 4, "comment": "处理及时"})
    assert ok.status_code == 201, ok.text
    [rated] = await staged(api, case_id, "case.rated")
    assert payload(rated)["score"] == 4 and payload(rated)["comment"] == "处理及时"
    twice = await api.post(f"/api/v1/track/{code}/rating", json={"check": "4321", "score": 1})
    assert twice.status_code == 409 and twice.json()["errors"][0]["code"] == "already_rated"
    bad = await api.post(f"/api/v1/track/{code}/rating", json={"check": "4321", "score": 9})
    assert bad.status_code == 422


async def test_classify_endpoint_names_category_sub_item_confidence_and_words(api) -> None:
    r = await api.post("/api/v1/classify", json={"text": "在工地干活从脚手架上摔下来骨折了，老板不给报工伤"})
    assert r.status_code == 200
    body = r.json()
    assert body["category"] == "labour_wages" and body["sub_item"] == "work_injury" and not body["needs_review"]
    assert body["category_name"] == "劳动争议/欠薪" and body["words"] and 0.45 <= body["confidence"] <= 1
    vague = (await api.post("/api/v1/classify", json={"text": "你好，请问一下"})).json()
    assert vague["category"] == "other" and vague["needs_review"]


async def test_qr_codes_open_the_tracking_page_and_the_units_form(api) -> None:
    code = (await api.post("/api/v1/cases", json=case())).json()["tracking_code"].replace("-", "")
    svg = await api.get(f"/api/v1/track/{code}/qr")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    import io

    want = io.BytesIO()
    segno.make(f"https://yima.example.cn/track/{code}", error="m").save(want, kind="svg", scale=10, border=2,
                                                                         xmldecl=False, title="扫码")
    assert svg.content == want.getvalue()
    png = await api.get(f"/api/v1/track/{code}/qr", params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    unit = await api.get("/api/v1/units/410105001001/qr", params={"format": "png"})
    want = io.BytesIO()
    segno.make("https://yima.example.cn/submit?unit=410105001001", error="m").save(want, kind="png", scale=10,
                                                                                    border=2)
    assert unit.content == want.getvalue()
    assert (await api.get("/api/v1/units/..%2Fetc/qr")).status_code in (404, 422)


async def test_submissions_are_rate_limited_per_client(yima_infra, mongo_db_prefix) -> None:
    app = await make_api(yima_infra, mongo_db_prefix, rate=3)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            codes = [(await client.post("/api/v1/cases", json=case())).status_code for _ in range(4)]
            assert codes[:3] == [201, 201, 201] and codes[3] == 429
            # staff accounts have their own budget
            r = await client.post("/api/v1/cases", json=case("reception"), headers=token())
            assert r.status_code == 201


async def test_open311_services_request_and_status(api) -> None:
    services = (await api.get("/open311/v2/services.json")).json()
    codes = {s["service_code"] for s in services}
    assert {"auto", "labour_wages", "neighbour", "other"} <= codes
    form = {"service_code": "auto", "last_name": "诸葛", "first_name": "亮", "phone": "13711112222",
            "description": "楼上邻居家每天半夜跺脚拖椅子，孩子睡不着觉", "address_id": "410105001001",
            "address_string": "黄河路12号院3号楼", "lat": "34.77", "long": "113.68"}
    r = await api.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    [created] = r.json()
    assert "查询码" in created["service_notice"]
    case_id = created["service_request_id"]
    [sub] = await staged(api, case_id, "case.submitted")
    event = payload(sub)
    assert event["channel"] == "open311" and event["category"] == "neighbour"
    assert event["applicant"]["name"] == "诸葛亮" and event["location"]["unit_code"] == "410105001001"
    [status] = (await api.get(f"/open311/v2/requests/{case_id}.json")).json()
    assert status["status"] == "open" and status["service_code"] == "neighbour"
    assert status["status_notes"] == "纠纷已登记"
    assert "13711112222" not in str(status) and "诸葛" not in str(status) and "跺脚" not in str(status)
    # errors in the GeoReport format, in Chinese
    bad = await api.post("/open311/v2/requests.json", data={**form, "phone": "123"})
    assert bad.status_code == 400 and "电话号码格式不正确" in bad.json()[0]["description"]
    assert (await api.post("/open311/v2/requests.json", data={**form, "service_code": "x"})).status_code == 404
    assert (await api.get("/open311/v2/requests/nope.json")).status_code == 404
