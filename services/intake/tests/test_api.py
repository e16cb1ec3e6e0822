"""Intake's HTTP API against the real MongoDB-protocol server (and broker, for /health)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings

pytestmark = pytest.mark.integration

CASE = {
    "channel": "self_service",
    "applicant": {"name": "欧阳娜娜", "phone": "0371-65551234"},
    "description": "包工头拖欠我们三个月工资，一共两万多元",
}


@pytest.fixture
async def api(yima_infra, mongo_db_prefix):
    settings = IntakeSettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url, mongo_db_prefix=mongo_db_prefix,
        submit_rate_per_minute=1000,
    )
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            client.db = app.state.runtime.db  # type: ignore[attr-defined]
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_health_checks_the_real_servers(api) -> None:
    r = await api.get("/health")
    assert r.status_code == 200 and r.json()["checks"] == {"mongo": "ok", "kafka": "ok"}


async def test_submission_is_stored_encrypted_and_staged_for_publishing(api) -> None:
    r = await api.post("/api/v1/cases", json=CASE)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["category"] == "labour_wages" and not body["needs_review"]
    doc = await api.db["cases"].find_one({"_id": body["case_id"]})
    assert "65551234" not in str(doc) and "欧阳" not in str(doc) and "包工头" not in str(doc)
    staged = [d async for d in api.db["outbox"].find({"key": body["case_id"]})]
    assert sorted(d["topic"] for d in staged) == ["case.status", "case.submitted"]


async def test_the_mini_programs_openid_goes_to_notify_on_the_submitted_event_only(api) -> None:
    openid = "oMiniProgram_0123456789abcd"
    r = await api.post("/api/v1/cases", json={**CASE, "applicant": {**CASE["applicant"], "wechat_openid": openid}})
    assert r.status_code == 201, r.text
    staged = {d["topic"]: d["payload"] async for d in api.db["outbox"].find({"key": r.json()["case_id"]})}
    assert f'"applicant_wechat_openid":"{openid}"' in staged["case.submitted"].replace(" ", "")
    assert openid not in staged["case.status"]
    assert openid not in str(await api.db["cases"].find_one({"_id": r.json()["case_id"]}))


async def test_a_retried_submission_returns_the_first_case(api) -> None:
    key = str(uuid.uuid4())
    first = await api.post("/api/v1/cases", json=CASE, headers={"Idempotency-Key": key})
    again = await api.post("/api/v1/cases", json=CASE, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["case_id"] == first.json()["case_id"]
    assert again.json()["case_number"] == first.json()["case_number"]
    assert await api.db["cases"].count_documents({}) == 1
    assert await api.db["outbox"].count_documents({"key": first.json()["case_id"]}) == 2

    other = await api.post("/api/v1/cases", json={**CASE, "description": "另一件事情，完全不同"},
                           headers={"Idempotency-Key": key})
    assert other.status_code == 409
    assert other.json()["errors"][0]["code"] == "idempotency_conflict"


async def test_concurrent_submissions_get_gapless_unique_case_numbers(api) -> None:
    # different applicants (one applicant's same dispute would be linked as a repeat report)
    bodies = [{**CASE, "applicant": {"name": "欧阳娜娜", "phone": f"1390000{i:04d}"}} for i in range(12)]
    results = await asyncio.gather(*(api.post("/api/v1/cases", json=b) for b in bodies))
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    seqs = sorted(int(r.json()["case_number"].rsplit("-", 1)[1]) for r in results)
    assert seqs == list(range(1, 13))


@pytest.mark.parametrize(
    "patch,field,fragment",
    [
        ({"applicant": {"name": "张三", "phone": "12345"}}, "applicant.phone", "电话号码格式不正确"),
        ({"applicant": {"name": "张三123", "phone": "13812345678"}}, "applicant.name", "姓名格式不正确"),
        ({"channel": "carrier_pigeon"}, "channel", "取值不在允许范围内"),
        ({"description": "短"}, "description", "内容太短"),
        ({"location": {"unit_code": "../../etc"}}, "location.unit_code", "格式不正确"),
        ({"applicant": {"name": "张三", "phone": "13812345678", "wechat_openid": "<script>"}},
         "applicant.wechat_openid", "格式不正确"),
        ({"surprise": 1}, "surprise", "不认识的字段"),
    ],
)
async def test_bad_input_is_refused_with_a_chinese_machine_readable_list(api, patch, field, fragment) -> None:
    r = await api.post("/api/v1/cases", json={**CASE, **patch})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert any(e["field"] == field and fragment in e["message"] for e in errors), errors
    assert await api.db["cases"].count_documents({}) == 0


async def test_malformed_json_is_a_422_not_a_500(api) -> None:
    r = await api.post("/api/v1/cases", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


async def test_tracking_locks_after_repeated_wrong_checks(api) -> None:
    code = (await api.post("/api/v1/cases", json=CASE)).json()["tracking_code"]
    for _ in range(5):
        assert (await api.get(f"/api/v1/track/{code}", params={"check": "0000"})).status_code == 404
    locked = await api.get(f"/api/v1/track/{code}", params={"check": "1234"})
    assert locked.status_code == 429 and "后再试" in locked.json()["errors"][0]["message"]
    # The lock is this client's: the applicant on their own phone still gets in.
    applicant = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app, client=("10.1.2.3", 5000)),
                                  base_url="http://intake")
    async with applicant:
        mine = await applicant.get(f"/api/v1/track/{code}", params={"check": CASE["applicant"]["phone"][-4:]})
        assert mine.status_code == 200, mine.text


async def test_parallel_guesses_with_the_right_check_among_them_are_counted_first(api) -> None:
    code = (await api.post("/api/v1/cases", json=CASE)).json()["tracking_code"]
    right = CASE["applicant"]["phone"][-4:]
    checks = [*[f"{i:04d}" for i in range(20) if f"{i:04d}" != right][:19], right]
    answers = await asyncio.gather(*[api.get(f"/api/v1/track/{code}", params={"check": c}) for c in checks])
    codes = [a.status_code for a in answers]
    assert len([c for c in codes if c != 429]) <= 5, codes  # only five were ever checked
    assert (await api.get(f"/api/v1/track/{code}", params={"check": right})).status_code == 429
