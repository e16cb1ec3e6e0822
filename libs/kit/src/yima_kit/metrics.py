"""Prometheus metrics of the at-least-once machinery (served at /metrics by every role)."""

from prometheus_client import Counter, Histogram

EVENTS_PROCESSED = Counter(
    "yima_events_processed_total", "Events a consumer processed (first delivery)", ["consumer"]
)
EVENTS_DUPLICATE = Counter(
    "yima_events_duplicate_total", "Redelivered events recognised by the ledger and skipped", ["consumer"]
)
EVENTS_DEAD_LETTERED = Counter(
    "yima_events_dead_lettered_total", "Events sent to dlq.<service>", ["consumer", "kind"]
)
EVENT_RETRIES = Counter("yima_event_retries_total", "Handler attempts that failed and were retried", ["consumer"])
OUTBOX_PUBLISHED = Counter("yima_outbox_published_total", "Outbox entries published to Kafka", ["topic"])
HANDLER_SECONDS = Histogram("yima_handler_seconds", "Time to process one event, transaction included", ["consumer"])
