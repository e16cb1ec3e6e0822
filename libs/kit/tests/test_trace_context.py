"""W3C trace context travels HTTP request → outbox → Kafka → consumer → outbox → Kafka, against the real
broker and database (docs/adr/0007-trace-context.md)."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind
from yima_contracts import CaseStatusChanged, headers, topics
from yima_contracts.codes import CaseState
from yima_devstack.kafka_tools import keyed, read_topic
from yima_kit.consumer import PermanentError, Tx
from yima_kit.kafka_auth import client_kwargs
from yima_kit.logging import configure_logging, get_logger
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outgoing
from yima_kit.runtime import Runtime, http_app
from yima_kit.tracing import setup_tracing

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


def status(case_id: str, title: str = "测试") -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, correlation_id=case_id, state=CaseState.ACCEPTED, title_zh=title)


def parse(traceparent: bytes | str) -> tuple[str, str]:
    """(trace id, span id) of a W3C traceparent, checking its form."""
    text = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    version, trace_id, span_id, flags = text.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16 and len(flags) == 2
    assert int(trace_id, 16) != 0 and int(span_id, 16) != 0
    return trace_id, span_id


class Recorder(SpanProcessor):
    """Keeps the spans that end while a test listens (a processor cannot be removed from the provider)."""

    def __init__(self) -> None:
        self.listening = False
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if self.listening:
            self.spans.append(span)

    def of_trace(self, trace_id: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.context is not None and format(s.context.trace_id, "032x") == trace_id]


_recorder = Recorder()


@pytest.fixture
def spans():
    setup_tracing("kit-tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_yima_test_recorder", False):
        provider.add_span_processor(_recorder)
        provider._yima_test_recorder = True  # type: ignore[attr-defined]
    _recorder.spans.clear()
    _recorder.listening = True
    yield _recorder
    _recorder.listening = False
    _recorder.spans.clear()


@pytest.fixture
async def api(kit_settings, topic, spans):
    """A kit http_app whose one route stages an event for the request's case in the outbox."""
    rt = Runtime.create(kit_settings(max_attempts=2))
    app = http_app(rt, title="trace test", consume=False, relay=True)

    @app.post("/cases/{case_id}/stage")
    async def stage(case_id: str) -> dict[str, str]:
        async def work(session) -> str:
            await rt.outbox.add(session, [Outgoing(topic, status(case_id))])
            # what was staged, read in the transaction: once committed, the relay may publish and delete it at once
            row = await rt.db["outbox"].find_one({"key": case_id}, session=session)
            return str(row["headers"][headers.TRACEPARENT])

        return {"case_id": case_id, "staged_traceparent": await in_transaction(rt.client, work)}

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
            client.rt = rt  # type: ignore[attr-defined]
            yield client


async def test_an_http_request_passes_its_trace_to_the_events_it_stages(api, yima_infra, topic, spans) -> None:
    case_id = str(uuid.uuid4())
    r = await api.post(f"/cases/{case_id}/stage", headers={"traceparent": TRACEPARENT})
    assert r.status_code == 200

    staged = r.json()["staged_traceparent"]
    trace_id, span_id = parse(staged)
    assert trace_id == TRACE_ID and span_id != PARENT_SPAN_ID

    # The relay publishes the header unchanged.
    [record] = await read_topic(yima_infra.kafka_bootstrap, topic, keyed(case_id))
    assert dict(record.headers)[headers.TRACEPARENT] == staged.encode()

    # One SERVER span (ours, not FastAPI's native one as well), child of the caller's span; the staged event
    # names it as its parent.
    [server] = [s for s in spans.of_trace(TRACE_ID) if s.kind == SpanKind.SERVER]
    assert server.name == "POST /cases/{case_id}/stage"
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert format(server.context.span_id, "016x") == span_id
    assert server.attributes["http.route"] == "/cases/{case_id}/stage"
    assert server.attributes["http.response.status_code"] == 200
    assert all(case_id not in str(v) for v in server.attributes.values())  # no raw path: it can carry codes


async def test_an_http_request_without_traceparent_starts_a_new_trace(api, yima_infra, topic, spans) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    staged: dict[str, str] = {}
    for case_id in (first, second):
        r = await api.post(f"/cases/{case_id}/stage")
        assert r.status_code == 200
        staged[case_id] = r.json()["staged_traceparent"]
    (t1, s1), (t2, _) = parse(staged[first]), parse(staged[second])
    assert t1 != t2 and TRACE_ID not in (t1, t2)
    [server] = [s for s in spans.of_trace(t1) if s.kind == SpanKind.SERVER]
    assert server.parent is None and format(server.context.span_id, "016x") == s1
    [record] = await read_topic(yima_infra.kafka_bootstrap, topic, keyed(first))
    assert parse(dict(record.headers)[headers.TRACEPARENT])[0] == t1


async def test_a_consumer_continues_the_trace_of_the_message_it_processes(
    yima_infra, topic, spans, kit_settings
) -> None:
    rt = Runtime.create(kit_settings(max_attempts=2))

    @rt.consumers.subscribe(topic, CaseStatusChanged, name="tracer", group_id=f"g-{topic}")
    async def handle(event: CaseStatusChanged, tx: Tx) -> None:
        if event.title_zh == "拒收":
            raise PermanentError("unknown case")
        tx.emit(f"{topic}.out", status(event.case_id, "结果"))

    await rt.start(relay=True)
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        traced, untraced = status("case-traced"), status("case-untraced")
        rejected = status(f"case-rejected-{topic}", "拒收")
        tracestate = b"vendor=abc"
        for e, hdrs in (
            (traced, [(headers.TRACEPARENT, TRACEPARENT.encode()), ("tracestate", tracestate)]),
            (untraced, []),
            (rejected, [(headers.TRACEPARENT, TRACEPARENT.encode())]),
        ):
            await producer.send_and_wait(topic, e.model_dump_json().encode(), key=e.case_id.encode(), headers=hdrs)

        out = await read_topic(
            yima_infra.kafka_bootstrap, f"{topic}.out", lambda rs: rs if len(rs) >= 2 else None
        )
        by_key = {r.key: dict(r.headers) for r in out}
        trace_id, span_id = parse(by_key[b"case-traced"][headers.TRACEPARENT])
        assert trace_id == TRACE_ID and span_id != PARENT_SPAN_ID
        assert by_key[b"case-traced"]["tracestate"] == tracestate
        new_trace, _ = parse(by_key[b"case-untraced"][headers.TRACEPARENT])
        assert new_trace != TRACE_ID
        assert json.loads(out[0].value)["title_zh"] == "结果"

        # The consumer span: a child of the message's context, parent of the emitted event.
        process = [s for s in spans.of_trace(TRACE_ID) if s.name == f"{topic} process"]
        traced_span = next(s for s in process if s.attributes["messaging.kafka.message.key"] == "case-traced")
        assert traced_span.kind == SpanKind.CONSUMER
        assert traced_span.parent is not None and format(traced_span.parent.span_id, "016x") == PARENT_SPAN_ID
        assert format(traced_span.context.span_id, "016x") == span_id
        assert traced_span.attributes["messaging.system"] == "kafka"
        assert traced_span.attributes["messaging.destination.name"] == topic
        assert traced_span.attributes["yima.event_type"] == "case.status.v1"
        assert traced_span.attributes["yima.event_id"] == str(traced.event_id)
        [untraced_span] = [s for s in spans.spans if s.attributes.get("yima.event_id") == str(untraced.event_id)]
        assert untraced_span.parent is None and format(untraced_span.context.trace_id, "032x") == new_trace

        # A dead letter keeps the original traceparent, unchanged.
        [dead] = await read_topic(
            yima_infra.kafka_bootstrap, topics.dlq_topic("mediation"), keyed(rejected.case_id)
        )
        assert dict(dead.headers)[headers.TRACEPARENT] == TRACEPARENT.encode()
    finally:
        await producer.stop()
        await rt.stop()


def test_log_lines_carry_the_active_trace(capsys, spans) -> None:
    configure_logging("test", "INFO")
    try:
        with trace.get_tracer("test").start_as_current_span("work") as span:
            get_logger().info("inside a span")
        get_logger().info("outside any span")
        inside, outside = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines()[-2:])
    finally:
        logging.getLogger().handlers.clear()
    ctx = span.get_span_context()
    assert inside["trace_id"] == format(ctx.trace_id, "032x") and inside["span_id"] == format(ctx.span_id, "016x")
    assert "trace_id" not in outside and "span_id" not in outside
