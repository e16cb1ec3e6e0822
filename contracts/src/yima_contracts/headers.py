"""Kafka header names. Headers duplicate a few envelope fields so that routers and dead-letter tools can
act without parsing the body; the body stays the source of truth."""

EVENT_TYPE = "yima-event-type"
EVENT_ID = "yima-event-id"
CORRELATION_ID = "yima-correlation-id"
# W3C trace context (OpenTelemetry propagates it in this header).
TRACEPARENT = "traceparent"

# Set on messages in a dlq.<service> topic.
DLQ_ERROR = "yima-dlq-error"
DLQ_ERROR_KIND = "yima-dlq-error-kind"
DLQ_ORIGINAL_TOPIC = "yima-dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "yima-dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "yima-dlq-original-offset"
DLQ_CONSUMER = "yima-dlq-consumer"
DLQ_ATTEMPTS = "yima-dlq-attempts"
