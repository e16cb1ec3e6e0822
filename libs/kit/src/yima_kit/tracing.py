"""W3C trace context across HTTP requests and Kafka messages (docs/adr/0007-trace-context.md).

One SDK tracer provider per process (``service.name`` = the service), with no exporter unless the deployment
names one in ``OTEL_TRACES_EXPORTER`` and installs its package: span and trace ids are real either way, so the
context travels — an HTTP request's ``traceparent`` reaches the events it stages in the outbox, the consumer
of those events continues the trace, and so on. Only ``traceparent``/``tracestate`` are carried (no baggage:
it would be a channel for arbitrary data, personal data included).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging import get_logger

log = get_logger(__name__)

PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset(PROPAGATOR.fields)  # {"traceparent", "tracestate"}


def setup_tracing(service_name: str) -> None:
    """Install the SDK tracer provider once per process; a provider set before (by an earlier Runtime in
    the same process, or by the deployment's own OpenTelemetry setup) is kept."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    for name in _exporter_names():
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            log.warning("trace exporter not installed: spans are not exported", exporter=name)
            continue
        try:
            exporter = next(iter(found)).load()()
        except Exception as exc:  # telemetry must not keep the service from starting
            log.warning("trace exporter failed to start", exporter=name, error=type(exc).__name__)
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def _exporter_names() -> list[str]:
    # The OpenTelemetry default is "otlp"; we install no exporter, so ours is "none" unless one is named.
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "none")
    return [n.strip() for n in raw.split(",") if n.strip() and n.strip().lower() != "none"]


def tracer() -> trace.Tracer:
    return trace.get_tracer("yima_kit")


def inject(carrier: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write the current trace context (``traceparent`` and, if any, ``tracestate``) into ``carrier``."""
    PROPAGATOR.inject(carrier, context=context)


def extract(carrier: Mapping[str, str]) -> Context:
    """The trace context in ``carrier``; an empty context (a new trace follows) if there is none or it is
    malformed."""
    return PROPAGATOR.extract(carrier, context=Context())


def kafka_trace_headers(raw_headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """The trace headers of a Kafka record (aiokafka gives ``(name, bytes)`` pairs)."""
    found: dict[str, str] = {}
    for name, value in raw_headers or ():
        if name in TRACE_HEADERS and value is not None:
            found[name] = value.decode("latin-1")
    return found


def has_active_span() -> bool:
    return trace.get_current_span().get_span_context().is_valid


class TraceMiddleware:
    """Every HTTP request runs in a SERVER span that continues an incoming ``traceparent`` (or starts a
    trace). Attributes name the route template, never the raw path or query: those can carry tracking codes
    and phone digits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", [])
            if k.decode("latin-1") in TRACE_HEADERS
        }
        method = scope.get("method", "HTTP")
        status: dict[str, int] = {}

        async def send_and_observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with tracer().start_as_current_span(
            method,
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
            record_exception=False,  # exception messages may quote request data; the type is enough
        ) as span:
            try:
                await self.app(scope, receive, send_and_observe)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= 500:
                        span.set_status(StatusCode.ERROR)
