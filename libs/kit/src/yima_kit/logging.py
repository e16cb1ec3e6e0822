"""structlog JSON logs with personal data scrubbed: no phone, ID number or name ever reaches a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

_SENSITIVE_KEYS = {"phone", "name", "id_number", "address", "applicant", "parties", "description", "password"}
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_RID = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")


def scrub_text(text: str) -> str:
    text = _RID.sub(lambda m: m.group(0)[:3] + "***********" + m.group(0)[-4:], text)
    return _PHONE.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:], text)


def _scrub(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event_dict):
        if k in _SENSITIVE_KEYS:
            event_dict[k] = "[redacted]"
        elif isinstance(event_dict[k], str):
            event_dict[k] = scrub_text(event_dict[k])
    return event_dict


def add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The active span's ``trace_id``/``span_id`` (W3C hex), so a log line joins its trace."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    # PyMongo's DEBUG logs (commands, replies) carry documents in clear — an outbox payload holds a tracking code
    # or a phone number — and no scrubber sees them: they stay off even when the service runs at DEBUG.
    logging.getLogger("pymongo").setLevel(max(logging.INFO, logging.getLevelName(level.upper())))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_trace_ids,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
