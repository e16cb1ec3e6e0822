"""``./yima run`` starts the notify dev gateway as a process of its own (by module name: devstack imports no
service package), watches it like a service, and points notify's SMS and webhooks at it."""

from __future__ import annotations

import json

import httpx
import pytest
from yima_devstack.infra import free_port
from yima_devstack.platform import GATEWAY_MODULE, gateway_settings
from yima_devstack.services import Platform, service_env


def test_notify_is_pointed_at_the_gateway_unless_told_otherwise() -> None:
    env = gateway_settings("http://127.0.0.1:8025", {})
    assert env["YIMA_NOTIFY_SMS_URL"] == "http://127.0.0.1:8025/sms"
    assert json.loads(env["YIMA_NOTIFY_UNIT_CONTACTS_JSON"]) == {
        "*": {"webhook_url": "http://127.0.0.1:8025/hooks/{unit}"}}
    assert env["YIMA_NOTIFY_QUIET_HOURS"] == ""  # texts show at once, whatever the hour in Beijing
    own = gateway_settings("http://127.0.0.1:8025", {"YIMA_NOTIFY_SMS_URL": "https://sms.example/send"})
    assert "YIMA_NOTIFY_SMS_URL" not in own  # a setting already in the environment wins


def test_the_gateway_runs_is_watched_and_stops_with_the_platform(tmp_path) -> None:
    port = free_port()
    platform = Platform(log_dir=tmp_path / "logs", pid_dir=tmp_path / "run")
    gw = platform.start_helper("devgateway", GATEWAY_MODULE, port, service_env("", ""))
    try:
        platform.wait_healthy(timeout=30)
        assert list(platform.procs) == ["devgateway"] and gw.url == f"http://127.0.0.1:{port}"
        assert (tmp_path / "run" / "devgateway.pid").read_text().strip() == str(gw.pid)
        httpx.post(f"{gw.url}/sms", headers={"Idempotency-Key": "k1"}, json={"phone": "13812345678", "text": "t"})
        assert httpx.get(f"{gw.url}/deliveries.json").json()["deliveries"][0]["key"] == "k1"
        gw.kill()  # what `./yima run` sees as an exit, and restarts with the same command
        assert not gw.alive()
        gw.start(service_env("", ""))
        platform.wait_healthy(timeout=30)
        assert (tmp_path / "run" / "devgateway.pid").read_text().strip() == str(gw.pid)
    finally:
        platform.stop()
    assert not gw.alive() and not (tmp_path / "run" / "devgateway.pid").exists()


def test_yima_run_creates_the_topics_as_the_super_user_from_a_bare_terminal(yima_infra, tmp_path, monkeypatch) -> None:
    """On a fresh clone `./yima run` stopped here: it created the platform topics with an anonymous client, which
    the SASL broker refuses (docs/adr/0185). The environment of a terminal has no Kafka credentials."""
    from yima_devstack.platform import _prepare
    from yima_kit.kafka_auth import ENV_PASSWORD, ENV_PROTOCOL, ENV_USERNAME

    if not yima_infra.kafka_users:
        pytest.skip("servers from outside: their credentials come from the environment (ADR 0070)")
    for var in (ENV_PROTOCOL, ENV_USERNAME, ENV_PASSWORD, "YIMA_AUTH_PUBLIC_KEYS", "YIMA_SECRETS_DIR"):
        monkeypatch.delenv(var, raising=False)
    env = _prepare(yima_infra, Platform(log_dir=tmp_path / "logs"), tmp_path, gateway_port=0)
    assert env["YIMA_KAFKA_BOOTSTRAP"] == yima_infra.kafka_bootstrap
    assert env["YIMA_SECRETS_DIR"] == str((tmp_path / "keys").resolve())  # its own token keys, not the dev key
