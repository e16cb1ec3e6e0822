"""A webhook goes to the address that was checked, not to a second lookup's answer (DNS rebinding, ADR 0185):
the request names the checked IP, the Host header and TLS's SNI name the host, and the certificate is still
verified for the host."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yima_notify.adapters.channels import Message, PermanentError, WebhookChannel
from yima_notify.config import NotifySettings
from yima_notify.core.webhook_policy import pin

HOST = "hooks.jinshui.gov.cn"


def test_pin_keeps_path_query_port_and_names_the_host() -> None:
    p = pin(f"https://{HOST}/yima/in?unit=410105", "202.102.224.68")
    assert (p.url, p.host_header, p.sni_hostname) == ("https://202.102.224.68/yima/in?unit=410105", HOST, HOST)
    six = pin(f"https://{HOST}:443/x", "2001:db8::5")
    assert (six.url, six.host_header) == ("https://[2001:db8::5]:443/x", f"{HOST}:443")
    assert pin(f"https://{HOST}/", "::ffff:202.102.224.68").url == "https://202.102.224.68/"
    with pytest.raises(ValueError):
        pin(f"https://{HOST}/", "not-an-address")


async def test_the_channel_resolves_once_and_connects_to_the_checked_address() -> None:
    answers = iter([["202.102.224.68"], ["127.0.0.1"]])  # a rebinding name: public first, then inwards
    lookups: list[str] = []
    seen: list[httpx.Request] = []
    ch = WebhookChannel(NotifySettings(webhook_allowed_hosts=[".jinshui.gov.cn"]))  # type: ignore[call-arg]

    async def resolve(host: str) -> list[str]:
        lookups.append(host)
        return next(answers)

    ch.resolve = resolve
    ch._client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    await ch.send(Message(key="n-1", address=f"https://{HOST}/yima", title="督办通知", text="请按期办理",
                          template_id="t", meta={}))
    (req,) = seen
    assert lookups == [HOST]
    assert (req.url.host, req.headers["host"], req.extensions["sni_hostname"]) == ("202.102.224.68", HOST, HOST)
    with pytest.raises(PermanentError, match="internal address"):  # the next lookup's answer is checked anew
        await ch.send(Message(key="n-2", address=f"https://{HOST}/yima", title="t", text="t", template_id="t",
                              meta={}))


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_a_pinned_request_verifies_the_hosts_certificate_over_real_tls(tmp_path: Path) -> None:
    """Against a real TLS server on 127.0.0.1 whose certificate names only the host: the pinned request is
    verified and answered, and the server saw the host in SNI and in the Host header."""
    cert_file, key_file = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc,func-returns-value]
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    try:
        ch = WebhookChannel(NotifySettings())  # type: ignore[call-arg]
        ch._client = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert_file)), timeout=5)
        pinned = pin(f"https://{HOST}:{port}/yima", "127.0.0.1")
        resp = await ch._post(pinned.url, json_body={"x": 1}, headers={"Host": pinned.host_header},
                              extensions={"sni_hostname": pinned.sni_hostname})
        assert resp.status_code == 200
        assert sni == [HOST] and f"host: {HOST}:{port}".encode() in heads[0].lower()
        # without the host as SNI the same certificate does not verify for the bare address
        with pytest.raises(httpx.ConnectError):
            await ch.client.post(f"https://{ipaddress.ip_address('127.0.0.1')}:{port}/yima", content=b"{}")
        await ch.close()
    finally:
        server.close()
        await server.wait_closed()
