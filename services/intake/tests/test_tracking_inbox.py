"""The tracking page and API show the applicant's messages from notify's in-app inbox.

notify is played by a real HTTP server this test starts (a small app served by uvicorn in a thread) that
answers in notify's shape and records what it was asked; intake runs against the real MongoDB-protocol server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from yima_devstack.live import free_port, serve_in_thread
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings

pytestmark = pytest.mark.integration

PHONE, CHECK = "139 0000 7531", "7531"
CASE = {
    "channel": "self_service",
    "applicant": {"name": "欧阳娜娜", "phone": PHONE},
    "description": "包工头拖欠我们三个月工资，一共两万多元",
}
# notify's answer: its newest-first order is not trusted, and created_at comes with and without a zone
MESSAGES = [
    {"notification_id": "n1", "case_number": "JSQ-2026-000001", "template_id": "applicant.submitted.v1",
     "title": "已受理", "text": "您的纠纷已登记，我们会尽快处理。", "created_at": "2026-11-23T02:00:00",
     "read_at": None},
    {"notification_id": "n2", "case_number": "JSQ-2026-000001", "template_id": "applicant.assigned.v1",
     "title": "已分派", "text": "您的案件已交给黄河社区办理。", "created_at": "2026-11-23T03:30:00+00:00",
     "read_at": None},
]


class FakeNotify:
    """notify's applicant-inbox endpoint; ``mode`` picks how it answers, ``asked`` is what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str]]] = []
        self.mode = "ok"
        self.url = ""  # once served
        self.app = FastAPI()

        @self.app.get("/api/v1/inbox/applicant/{tracking_code}")
        async def inbox(tracking_code: str, request: Request) -> Response:
            self.asked.append((request.url.path, dict(request.query_params)))
            if self.mode == "slow":
                await asyncio.sleep(6)
            if self.mode == "error":
                return JSONResponse({"message": "internal"}, status_code=500)
            if self.mode == "garbage":
                return Response("<html>not json</html>", media_type="text/html")
            return JSONResponse({"case_number": "JSQ-2026-000001", "messages": MESSAGES})


@pytest.fixture(scope="module")
def notify() -> Iterator[FakeNotify]:
    fake = FakeNotify()
    with serve_in_thread(fake.app, name="fake notify") as live:
        fake.url = live.url
        yield fake


async def _client(settings: IntakeSettings):
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield client


def _settings(yima_infra, prefix: str, notify_url: str) -> IntakeSettings:
    return IntakeSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                          mongo_db_prefix=prefix, submit_rate_per_minute=1000, notify_url=notify_url,
                          notify_timeout_seconds=1.5)


@pytest.fixture
async def api(yima_infra, mongo_db_prefix, notify):
    notify.mode, notify.asked[:] = "ok", []
    async for client in _client(_settings(yima_infra, mongo_db_prefix, notify.url)):
        yield client


async def _submit(api) -> str:
    r = await api.post("/api/v1/cases", json=CASE)
    assert r.status_code == 201, r.text
    return str(r.json()["tracking_code"])  # shown as XXXX-XXXX-XXXX


async def test_messages_show_newest_first_in_beijing_time_after_intakes_own_check(api, notify, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    code = await _submit(api)
    plain = code.replace("-", "")

    r = await api.get(f"/api/v1/track/{code}", params={"check": CHECK})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["messages_unavailable"] is False
    assert [(m["at_local"], m["title"], m["text"], m["channel_name"]) for m in view["messages"]] == [
        ("2026-11-23 11:30", "已分派", "您的案件已交给黄河社区办理。", "站内信"),
        ("2026-11-23 10:00", "已受理", "您的纠纷已登记，我们会尽快处理。", "站内信"),
    ]
    # notify was asked with the normalized code and the same check, nothing else
    assert notify.asked == [(f"/api/v1/inbox/applicant/{plain}", {"check": CHECK})]

    page = await api.post("/track", data={"code": code, "check": CHECK})
    assert page.status_code == 200
    html = page.text
    assert "消息通知" in html and "消息暂时无法显示" not in html
    newer, older = html.index("您的案件已交给黄河社区办理。"), html.index("您的纠纷已登记，我们会尽快处理。")
    assert newer < older
    assert "2026-11-23 11:30 · 站内信" in html
    assert len(notify.asked) == 2

    # neither intake nor httpx wrote the code or the check into a log line (the stand-in notify's own access
    # log reaches caplog only because pytest hooks every logger; services run with the access log off)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "uvicorn.access")
    logged += capsys.readouterr().out
    assert plain not in logged and code not in logged and f"check={CHECK}" not in logged


async def test_a_wrong_check_or_a_bad_code_never_reaches_notify(api, notify):
    code = await _submit(api)
    assert (await api.get(f"/api/v1/track/{code}", params={"check": "0000"})).status_code == 404
    assert (await api.post("/track", data={"code": code, "check": "0000"})).status_code == 404
    assert (await api.post("/track", data={"code": code, "check": "12"})).status_code == 422
    assert (await api.get("/api/v1/track/ABCD-EFGH-JKLM", params={"check": CHECK})).status_code in (400, 404)
    assert (await api.post(f"/track/{code}/rate", data={"check": "0000", "score": "5"})).status_code == 404
    assert notify.asked == []


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
async def test_a_failing_notify_leaves_the_tracking_view_working(api, notify, mode):
    code = await _submit(api)
    notify.mode = mode
    started = time.monotonic()
    r = await api.get(f"/api/v1/track/{code}", params={"check": CHECK})
    assert time.monotonic() - started < 4.5  # the 1.5 s limit holds, not notify's 6 s
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["messages"] is None and view["messages_unavailable"] is True
    assert view["case_number"] and view["timeline"]  # the rest of the view as always

    page = await api.post("/track", data={"code": code, "check": CHECK})
    assert page.status_code == 200
    assert "消息暂时无法显示，请稍后刷新" in page.text and 'id="timeline"' in page.text
    assert len(notify.asked) == 2  # one try each, no retries


async def test_notify_down_is_not_a_500(yima_infra, mongo_db_prefix, notify):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async for api in _client(_settings(yima_infra, mongo_db_prefix, down)):
        code = await _submit(api)
        r = await api.get(f"/api/v1/track/{code}", params={"check": CHECK})
        assert r.status_code == 200 and r.json()["messages_unavailable"] is True
        page = await api.post("/track", data={"code": code, "check": CHECK})
        assert page.status_code == 200 and "消息暂时无法显示，请稍后刷新" in page.text
