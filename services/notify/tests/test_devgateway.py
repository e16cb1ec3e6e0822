"""The local dev gateway's read view: every delivery once, with how many times its key was POSTed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from yima_notify.devgateway import DevGateway


@pytest.fixture
def gw():
    g = DevGateway().start()
    yield g
    g.stop()


def _sms(gw: DevGateway, key: str, phone: str = "13812345678", text: str = "【一码解纠纷】您的纠纷已登记。") -> None:
    r = httpx.post(f"{gw.url}/sms", headers={"Idempotency-Key": key},
                   json={"phone": phone, "text": text, "out_id": key, "template_id": "applicant.submitted.v1"})
    assert r.status_code == 200


def test_a_repeated_key_counts_up_but_is_delivered_once(gw) -> None:
    _sms(gw, "e1|applicant|sms")
    _sms(gw, "e1|applicant|sms")  # a takeover after a SIGKILL resends under the same key
    _sms(gw, "e1|applicant|sms")
    _sms(gw, "e2|applicant|sms", phone="13900001111")
    httpx.post(f"{gw.url}/hooks/410105001001", headers={"Idempotency-Key": "e3|unit:410105001001|webhook"},
               json={"template_id": "unit.assigned.v1", "text": "新交办：案件JSQ-2026-000001"})
    report = httpx.get(f"{gw.url}/deliveries.json").json()
    assert (report["requests"], report["delivered"], report["repeated_keys"]) == (5, 3, 1)
    by_key = {d["key"]: d for d in report["deliveries"]}
    assert by_key["e1|applicant|sms"]["posts"] == 3 and by_key["e1|applicant|sms"]["delivered"] == 1
    assert by_key["e2|applicant|sms"]["posts"] == 1
    assert by_key["e1|applicant|sms"]["channel"] == "sms" and by_key["e1|applicant|sms"]["to"] == "138****5678"
    hook = by_key["e3|unit:410105001001|webhook"]
    assert (hook["channel"], hook["to"], hook["template_id"]) == ("webhook", "410105001001", "unit.assigned.v1")
    assert len(gw.delivered) == 3  # what the other tests read is unchanged


def test_the_page_shows_every_delivery_in_chinese(gw) -> None:
    _sms(gw, "k<1>", text="<script>x</script>")
    _sms(gw, "k<1>")
    page = httpx.get(f"{gw.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "本地短信/推送网关" in page.text and "收到请求 2 次，实际送达 1 条" in page.text
    assert "<code>k&lt;1&gt;</code></td><td>2</td><td>1</td>" in page.text  # key, POSTs, delivered once
    assert "<script>" not in page.text and "13812345678" not in page.text
    assert httpx.get(f"{gw.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{gw.url}/nope").status_code == 404


def test_it_runs_as_its_own_process_as_yima_run_starts_it(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "yima_notify.devgateway", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/sms", headers={"Idempotency-Key": "k"}, json={"phone": "1"})
        assert r.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/deliveries.json").json()["delivered"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
