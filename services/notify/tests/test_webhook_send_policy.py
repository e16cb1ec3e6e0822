"""A webhook is checked when it is sent, not only when a unit admin sets it (ADR 0131): an address the
allow-list no longer covers, or one written into the database some other way, is never called."""

from __future__ import annotations

import json

import httpx
import pytest
from yima_notify.adapters.channels import Message, PermanentError, WebhookChannel
from yima_notify.config import NotifySettings
from yima_notify.core.webhook_policy import WebhookPolicy


def channel(calls: list[str], **settings: object) -> WebhookChannel:
    ch = WebhookChannel(NotifySettings(**settings))  # type: ignore[arg-type]

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200)

    ch._client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return ch


def message(url: str) -> Message:
    return Message(key="n-1", address=url, title="督办通知", text="请按期办理", template_id="t", meta={})


async def test_only_allowed_hosts_and_the_operators_own_addresses_are_called() -> None:
    calls: list[str] = []
    ch = channel(calls, webhook_allowed_hosts=[".jinshui.gov.cn"],
                 unit_contacts_json=json.dumps({"*": {"webhook_url": "http://127.0.0.1:8025/hooks/{unit}"}}))
    await ch.send(message("https://dept.jinshui.gov.cn/yima"))  # the allow-list
    await ch.send(message("http://127.0.0.1:8025/hooks/410105001001"))  # the operator's own configuration
    for url in ("https://hooks.elsewhere.example/x",  # set while allowed, the list narrowed since
                "http://dept.jinshui.gov.cn/yima",  # not https
                "http://127.0.0.1:8080/admin",  # another port of the same host
                "https://169.254.169.254/latest/meta-data", "https://user:pw@dept.jinshui.gov.cn/"):
        with pytest.raises(PermanentError, match="not allowed"):
            await ch.send(message(url))
    assert calls == ["https://dept.jinshui.gov.cn/yima", "http://127.0.0.1:8025/hooks/410105001001"]


async def test_nothing_is_called_when_the_operator_allowed_nothing() -> None:
    calls: list[str] = []
    ch = channel(calls)
    with pytest.raises(PermanentError):
        await ch.send(message("https://hooks.zz.gov.cn/yima"))
    assert calls == []


def test_a_unit_code_template_in_the_host_is_no_operator_origin() -> None:
    policy = WebhookPolicy.from_settings([], json.dumps({"*": {"webhook_url": "https://{unit}.example/in"}}))
    assert policy.operator_origins == frozenset()
    assert not policy.allows("https://10.0.0.1.example/in")
