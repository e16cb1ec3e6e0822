"""Every process hears of revoked staff sessions from ``staff.session_revoked`` (ADR 0130): what was revoked
before it started as well as what is revoked while it runs — against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
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
            # Read back before start() returned: the process never answers with the logged-out token.
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


async def test_a_missing_topic_is_said_plainly(yima_infra, monkeypatch) -> None:
    from yima_kit import revocation_feed

    monkeypatch.setattr(revocation_feed, "TOPIC", f"missing.{uuid.uuid4().hex[:8]}")
    feed = RevocationFeed(yima_infra.kafka_bootstrap, KafkaAuth.from_env(), SessionRevocations(), service="test",
                          request_timeout_ms=2000)
    with pytest.raises(revocation_feed.RevocationFeedError, match="platform topics"):
        await feed.start()
    await feed.stop()


def test_revocations_forget_expired_sessions_in_bulk() -> None:
    now = [1000.0]
    r = SessionRevocations(clock=lambda: now[0])
    for i in range(1023):
        r.revoke(f"old-{i}", until=1500)
    now[0] = 1600  # every one of them has expired, none was looked up
    r.revoke("new", until=2000)
    assert len(r) == 1 and r.is_revoked("new")
