"""A webhook is checked when it is sent, not only when a unit admin sets it (ADR 0131): an address the
allow-list no longer covers, or one written into the database some other way, is never called; an allowed host
that resolves to an internal address is not called either (ADR 0133)."""

from __future__ import annotations

import json

import httpx
import pytest
from yima_notify.adapters.channels import Message, PermanentError, TransientError, WebhookChannel
from yima_notify.config import NotifySettings
from yima_notify.core.webhook_policy import WebhookPolicy, addresses_allowed, networks

PUBLIC = {"dept.jinshui.gov.cn": ["202.102.224.68"]}  # what the stand-in resolver answers (no DNS in tests)


def channel(calls: list[str], dns: dict[str, list[str]] | None = None, **settings: object) -> WebhookChannel:
    ch = WebhookChannel(NotifySettings(**settings))  # type: ignore[arg-type]
    answers = PUBLIC if dns is None else dns

    async def resolve(host: str) -> list[str]:
        calls.append(f"resolve {host}")
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    ch.resolve = resolve

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
    # the allowed host is resolved first; the operator's own address is not (it is the operator's to choose)
    assert calls == ["resolve dept.jinshui.gov.cn", "https://202.102.224.68/yima",  # the checked address (0185)
                     "http://127.0.0.1:8025/hooks/410105001001"]


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


async def test_an_allowed_host_that_resolves_inwards_is_not_called() -> None:
    calls: list[str] = []
    inwards = {"a.jinshui.gov.cn": ["127.0.0.1"], "b.jinshui.gov.cn": ["202.102.224.68", "10.0.0.7"],
               "c.jinshui.gov.cn": ["::ffff:169.254.169.254"], "d.jinshui.gov.cn": ["fd00::1"],
               "e.jinshui.gov.cn": [], "intra.jinshui.gov.cn": ["10.20.1.5"], "f.jinshui.gov.cn": ["10.30.1.5"]}
    ch = channel(calls, inwards, webhook_allowed_hosts=[".jinshui.gov.cn"],
                 webhook_private_networks=["10.20.0.0/16"])
    for host in ("a", "b", "c", "d", "e", "f"):  # loopback, one of several, mapped metadata, ULA, nothing, other net
        with pytest.raises(PermanentError, match="internal address"):
            await ch.send(message(f"https://{host}.jinshui.gov.cn/yima"))
    with pytest.raises(TransientError, match="not resolved"):  # DNS down: tried again later, not dropped
        await ch.send(message("https://gone.jinshui.gov.cn/yima"))
    await ch.send(message("https://intra.jinshui.gov.cn/yima"))  # the operator's intranet network
    assert [c for c in calls if not c.startswith("resolve")] == ["https://10.20.1.5/yima"]


async def test_the_system_resolver_is_asked_and_localhost_is_refused() -> None:
    calls: list[str] = []
    ch = WebhookChannel(NotifySettings(webhook_allowed_hosts=["localhost"]))  # type: ignore[call-arg]
    ch._client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: calls.append(str(r.url)) or
                                                                 httpx.Response(200)))
    with pytest.raises(PermanentError, match="internal address"):
        await ch.send(message("https://localhost/yima"))
    assert calls == []


def test_addresses_and_networks() -> None:
    assert addresses_allowed(["202.102.224.68", "2001:4860:4860::8888"])
    assert not addresses_allowed([]) and not addresses_allowed(["not-an-ip"]) and not addresses_allowed(["0.0.0.0"])
    assert not addresses_allowed(["fe80::1%eth0"]) and not addresses_allowed(["100.64.0.1"])  # link-local, CGN
    assert addresses_allowed(["10.20.255.1"], networks(["10.20.0.0/16", " "]))
    with pytest.raises(ValueError, match=r"10\.20\.0\.0/33. is not a network"):
        networks(["10.20.0.0/33"])
