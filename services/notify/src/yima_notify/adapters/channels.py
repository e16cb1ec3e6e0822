"""Channel adapters: SMS gateway, WeChat template message, webhook (httpx) and e-mail (SMTP).

Each call gets a timeout and a few quick tries on connection errors (the delivery worker adds the long
retries, the backoff and the circuit breaker). Every call carries the idempotency key the worker gives
(the notification id, or the digest's id): an ``Idempotency-Key`` header for HTTP gateways,
``client_msg_id`` for WeChat (which deduplicates on it), the ``Message-ID`` for e-mail.

Errors: :class:`TransientError` (timeouts, connection refused, 5xx, 429 — try again later) and
:class:`PermanentError` (4xx, a rejected address — retrying cannot help).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import socket
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx

from ..config import NotifySettings
from ..core.webhook_policy import WebhookPolicy, addresses_allowed, pin
from ..ports import Channel, DeliveryError, Message, PermanentError, TransientError

__all__ = ["Channel", "DeliveryError", "Message", "PermanentError", "TransientError", "build_channels"]


def _classify(resp: httpx.Response) -> None:
    if resp.status_code < 300:
        return
    detail = f"HTTP {resp.status_code}"
    if resp.status_code == 429 or resp.status_code >= 500 or resp.status_code == 409:
        # 409: the gateway is still working on this idempotency key: ask again later.
        raise TransientError(detail)
    raise PermanentError(detail)


class HttpChannel:
    name = "http"

    def __init__(self, settings: NotifySettings) -> None:
        self.timeout = settings.http_timeout_seconds
        self.tries = max(1, settings.adapter_tries)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def _post(self, url: str, *, json_body: dict[str, Any], headers: dict[str, str],
                    extensions: dict[str, Any] | None = None) -> httpx.Response:
        body = json.dumps(json_body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        last: Exception | None = None
        for i in range(self.tries):
            try:
                return await self.client.post(url, content=body, headers=headers, extensions=extensions)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = exc
                await asyncio.sleep(0.2 * 2**i)
        raise TransientError(f"{type(last).__name__}: gateway unreachable")


class SmsChannel(HttpChannel):
    """A generic SMS gateway: POST JSON ``{phone, sign, text, out_id}`` with ``Idempotency-Key``."""

    name = "sms"

    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        self.url = settings.sms_url
        self.token = settings.sms_token
        self.signature = settings.sms_signature

    async def send(self, msg: Message) -> None:
        headers = {"Idempotency-Key": msg.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        resp = await self._post(self.url, json_body={
            "phone": msg.address, "sign": self.signature, "text": msg.text, "out_id": msg.key,
            "template_id": msg.template_id,
        }, headers=headers)
        _classify(resp)


class WeChatChannel(HttpChannel):
    """WeChat official-account template message (``/cgi-bin/message/template/send``).

    WeChat answers HTTP 200 with ``errcode``; ``client_msg_id`` makes it drop a repeated send.
    """

    name = "wechat"
    # Worth another try later: system busy, API quota, out-of-frequency, and our access_token being invalid or
    # expired (40001, 40014, 42001: the platform's token job renews it — no fault of the recipient's). Every other
    # errcode is about this message or this user (43004 unsubscribed, 40003 bad openid, 43101 refused messages):
    # retrying cannot help, so it fails at once and an applicant's text goes by SMS without waiting (ADR 0053).
    _TRANSIENT_ERRCODES = frozenset({-1, 45009, 45047, 40001, 40014, 42001})

    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        self.url = settings.wechat_url
        self.token = settings.wechat_access_token
        self.template_id = settings.wechat_template_id

    async def send(self, msg: Message) -> None:
        body = {
            "touser": msg.address,
            "template_id": self.template_id,
            "client_msg_id": msg.key[:64],
            "data": {
                "first": {"value": msg.title},
                "keyword1": {"value": msg.meta.get("case_number", "")},
                "remark": {"value": msg.text},
            },
        }
        sep = "&" if "?" in self.url else "?"
        resp = await self._post(f"{self.url}{sep}access_token={self.token}", json_body=body,
                                headers={"Idempotency-Key": msg.key})
        _classify(resp)
        try:
            errcode = int(resp.json().get("errcode", 0))
        except (ValueError, AttributeError) as exc:
            raise TransientError("WeChat answered something that is not JSON") from exc
        if errcode in self._TRANSIENT_ERRCODES:
            raise TransientError(f"WeChat errcode {errcode}")
        if errcode != 0:
            raise PermanentError(f"WeChat errcode {errcode}")


async def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to now (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class WebhookChannel(HttpChannel):
    """A unit's own system: POST JSON, signed ``X-Yima-Signature: sha256=<hmac>``, ``Idempotency-Key``."""

    name = "webhook"

    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        self.secret = settings.webhook_secret.encode()
        self.policy = WebhookPolicy.from_settings(settings.webhook_allowed_hosts, settings.unit_contacts_json,
                                                  settings.webhook_private_networks)
        self.resolve: Callable[[str], Awaitable[list[str]]] = resolve_host

    async def send(self, msg: Message) -> None:
        if not self.policy.allows(msg.address):  # checked again here, whatever was accepted when it was set
            raise PermanentError("webhook address not allowed (https to an allowed host, or the operator's own)")
        url, extensions = msg.address, None
        if (host := self.policy.host_to_resolve(msg.address)) is not None:
            try:
                found = await self.resolve(host)
            except OSError as exc:
                raise TransientError(f"webhook host not resolved ({type(exc).__name__})") from exc
            if not addresses_allowed(found, self.policy.private_networks):  # an allowed name pointed inwards
                raise PermanentError("webhook host resolves to an internal address (not a public one, nor in "
                                     "YIMA_NOTIFY_WEBHOOK_PRIVATE_NETWORKS)")
            # connect to the address just checked, never to a second lookup's answer (DNS rebinding, ADR 0185);
            # the host name still goes in the Host header and TLS's SNI, and the certificate is checked for it
            pinned = pin(msg.address, found[0])
            url, extensions = pinned.url, {"sni_hostname": pinned.sni_hostname}
            headers_host = {"Host": pinned.host_header}
        else:
            headers_host = {}
        body = {"notification_id": msg.key, "template_id": msg.template_id, "title": msg.title, "text": msg.text,
                **msg.meta}
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True)
        headers = {"Idempotency-Key": msg.key, **headers_host}
        if self.secret:
            headers["X-Yima-Signature"] = "sha256=" + hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()
        resp = await self._post(url, json_body=json.loads(raw), headers=headers, extensions=extensions)
        _classify(resp)


class EmailChannel:
    """SMTP (stdlib smtplib in a thread, with a timeout). ``Message-ID`` is derived from the idempotency key,
    so a receiving system can drop a repeat; SMTP itself cannot (see ADR 0050)."""

    name = "email"

    def __init__(self, settings: NotifySettings) -> None:
        self.s = settings

    def _send_sync(self, msg: Message) -> None:
        em = EmailMessage()
        em["From"] = self.s.mail_from
        em["To"] = msg.address
        em["Subject"] = f"【一码解纠纷】{msg.title}"
        em["Date"] = formatdate(localtime=False)
        domain = self.s.mail_from.rpartition("@")[2] or "yima.local"
        em["Message-ID"] = f"<{hashlib.sha256(msg.key.encode()).hexdigest()[:32]}@{domain}>"
        em["X-Yima-Notification-Id"] = msg.key
        em.set_content(msg.text, charset="utf-8")
        try:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=self.s.http_timeout_seconds) as smtp:
                if self.s.smtp_starttls:
                    smtp.starttls()
                if self.s.smtp_user:
                    smtp.login(self.s.smtp_user, self.s.smtp_password)
                smtp.send_message(em)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError("recipient refused") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}") from exc
            raise PermanentError(f"SMTP {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"{type(exc).__name__}: SMTP server unreachable") from exc

    async def send(self, msg: Message) -> None:
        await asyncio.to_thread(self._send_sync, msg)

    async def close(self) -> None:
        return None


def build_channels(settings: NotifySettings) -> dict[str, Any]:
    """The configured channels (an empty endpoint = the channel is off)."""
    channels: dict[str, Any] = {"webhook": WebhookChannel(settings)}
    if settings.sms_url:
        channels["sms"] = SmsChannel(settings)
    if settings.wechat_url:
        channels["wechat"] = WeChatChannel(settings)
    if settings.smtp_host:
        channels["email"] = EmailChannel(settings)
    return channels
