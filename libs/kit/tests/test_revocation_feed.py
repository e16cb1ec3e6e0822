"""Every process hears of revoked staff sessions from ``staff.session_revoked`` (ADR 0130): what was revoked
before it started as well as what is revoked while it runs — against the real broker. The feed never holds up a
start: without Kafka or without its topic it retries in the background and catches up when they come (ADR 0132)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from yima_contracts import topics
from yima_contracts.codes import StaffRole
from yima_contracts.staff_events import StaffSessionRevoked
from yima_kit.auth import SessionRevocations, SessionRevoked, TokenIssuer, TokenVerifier
from yima_kit.kafka_auth import KafkaAuth, client_kwargs
from yima_kit.revocation_feed import RevocationFeed

pytestmark = pytest.mark.integration


def revoked(sid: str, *, valid_for: timedelta = timedelta(minutes=31)) -> bytes:
    event = StaffSessionRevoked(case_id="410105001-02", correlation_id=sid, staff_id="410105001-02",
                                session_ids=[sid], reason="logout", valid_until=datetime.now(UTC) + valid_for)
    return event.model_dump_json().encode()


async def test_a_process_refuses_sessions_revoked_before_and_after_it_started(yima_infra) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    before, expired, after = (uuid.uuid4().hex for _ in range(3))
    try:
        await producer.send_and_wait(topics.STAFF_SESSION_REVOKED, revoked(before), key=b"410105001-02")
        await producer.send_and_wait(topics.STAFF_SESSION_REVOKED, revoked(expired, valid_for=timedelta(minutes=-1)))
        await producer.send_and_wait(topics.STAFF_SESSION_REVOKED, b'{"not": "a revocation"}')

        revocations = SessionRevocations()
        verifier = TokenVerifier.from_setting("", revocations)
        feed = RevocationFeed(yima_infra.kafka_bootstrap, KafkaAuth.from_env(), revocations, service="test",
                              fetch_max_wait_ms=500)
        await feed.start()
        try:
            assert await feed.wait_caught_up(20), feed.status()
            assert feed.status()["state"] == "caught_up"
            assert revocations.is_revoked(before)
            assert not revocations.is_revoked(expired)  # its tokens have expired anyway: nothing to keep
            token = TokenIssuer.dev().issue(staff_id="410105001-02", unit="410105001", role=StaffRole.DISPATCHER,
                                            sid=after)
            assert verifier.verify(token).sid == after

            await producer.send_and_wait(topics.STAFF_SESSION_REVOKED, revoked(after), key=b"410105001-02")
            for _ in range(300):  # at most 15 s
                if revocations.is_revoked(after):
                    break
                await asyncio.sleep(0.05)
            with pytest.raises(SessionRevoked):
                verifier.verify(token)
        finally:
            await feed.stop()
    finally:
        await producer.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


async def test_without_kafka_start_returns_at_once_and_the_feed_keeps_trying() -> None:
    feed = RevocationFeed(f"127.0.0.1:{_closed_port()}", KafkaAuth(), SessionRevocations(), service="test",
                          request_timeout_ms=1000, retry_initial_s=0.05, retry_max_s=0.2)
    began = time.monotonic()
    await feed.start()
    assert time.monotonic() - began < 0.1  # nothing waited for the broker
    try:
        for _ in range(200):  # at most 10 s: two failed connections, each followed by a pause
            if feed.attempts >= 2:
                break
            await asyncio.sleep(0.05)
        status = feed.status()
        assert status["state"] == "connecting" and feed.attempts >= 2, status
        assert "Kafka" in str(status["error"]) or "Connection" in str(status["error"]), status
        assert not feed.caught_up
    finally:
        began = time.monotonic()
        await feed.stop()
        assert time.monotonic() - began < 2 and feed.status()["state"] == "stopped"


async def test_a_missing_topic_is_said_plainly_and_read_once_it_exists(yima_infra, monkeypatch) -> None:
    from yima_kit import revocation_feed

    topic = f"missing.{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(revocation_feed, "TOPIC", topic)
    revocations = SessionRevocations()
    feed = RevocationFeed(yima_infra.kafka_bootstrap, KafkaAuth.from_env(), revocations, service="test",
                          request_timeout_ms=2000, retry_initial_s=0.05, retry_max_s=0.3)
    await feed.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await admin.start()
    try:
        for _ in range(200):  # at most 10 s
            if feed.attempts:
                break
            await asyncio.sleep(0.05)
        assert feed.status()["state"] == "connecting" and "platform topics" in str(feed.status()["error"])
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        await producer.start()
        sid = uuid.uuid4().hex
        await producer.send_and_wait(topic, revoked(sid), key=b"410105001-02")
        assert await feed.wait_caught_up(20), feed.status()
        for _ in range(200):  # caught up to the end it found; the one just written comes with the next fetch
            if revocations.is_revoked(sid):
                break
            await asyncio.sleep(0.05)
        assert revocations.is_revoked(sid) and feed.attempts == 0
    finally:
        await feed.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()


def test_revocations_forget_expired_sessions_in_bulk() -> None:
    now = [1000.0]
    r = SessionRevocations(clock=lambda: now[0])
    for i in range(1023):
        r.revoke(f"old-{i}", until=1500)
    now[0] = 1600  # every one of them has expired, none was looked up
    r.revoke("new", until=2000)
    assert len(r) == 1 and r.is_revoked("new")
