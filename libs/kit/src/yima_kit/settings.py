"""Settings shared by every service. Each service subclasses :class:`KitSettings` with its own prefix
(``YIMA_INTAKE_…``); the fields here are read from the same variables in every service."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .kafka_auth import KafkaAuth
from .safe_text import LinkPolicy


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class KitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="yima", description="service name, used for the consumer group and dlq topic")
    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias=_env("YIMA_ENVIRONMENT"),
        description="production refuses to start without real keys (no development SM4 key or token key pair)",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=_env("YIMA_KAFKA_BOOTSTRAP"),
        description="Kafka bootstrap servers, comma-separated",
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT",
        validation_alias=_env("YIMA_KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SASL_PLAINTEXT or SASL_SSL (docs/adr/0070-kafka-authentication-and-acls.md)",
    )
    kafka_sasl_mechanism: str = Field(
        default="SCRAM-SHA-512", validation_alias=_env("YIMA_KAFKA_SASL_MECHANISM"),
        description="SCRAM-SHA-512 (the platform's brokers), SCRAM-SHA-256 or PLAIN",
    )
    kafka_sasl_username: str = Field(
        default="", validation_alias=_env("YIMA_KAFKA_SASL_USERNAME"), description="this service's Kafka principal"
    )
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("YIMA_KAFKA_SASL_PASSWORD"),
        description="its password (from a secret, never in a file under version control)",
    )
    kafka_ssl_cafile: str = Field(
        default="", validation_alias=_env("YIMA_KAFKA_SSL_CAFILE"),
        description="CA bundle for SASL_SSL (empty: the system's trust store)",
    )
    kafka_metadata_max_age_seconds: float = Field(
        default=300, gt=0,
        description="how often the Kafka clients refresh metadata; a pattern subscription sees new topics this often",
    )
    mongo_url: str = Field(
        default="mongodb://127.0.0.1:27017/?directConnection=true&journal=true&retryWrites=false",
        validation_alias=_env("YIMA_MONGO_URL"),
        description="MongoDB URL; journal=true so an acknowledged write survives a crash; the local default (the "
        "MongoDB-wire stand-in) without retryable writes, which that server makes dearer with every write (ADR 0218)",
    )
    mongo_db_prefix: str = Field(
        default="",
        validation_alias=_env("YIMA_MONGO_DB_PREFIX"),
        description="prefix of the service's database name (tests use a fresh prefix per run)",
    )
    sm4_key_hex: str = Field(
        default="",
        validation_alias=_env("YIMA_SM4_KEY_HEX"),
        description="32 hex chars (128-bit SM4 key) for personal-data fields at rest; empty = dev key (warns)",
    )
    auth_public_keys: str = Field(
        default="",
        validation_alias=_env("YIMA_AUTH_PUBLIC_KEYS"),
        description='staff-token verification keys, JSON {"kid": "PEM"}; empty = development key (warns)',
    )
    max_body_bytes: int = Field(
        default=1_000_000, gt=0, validation_alias=_env("YIMA_MAX_BODY_BYTES"),
        description="largest request body any endpoint reads; a larger one is answered 413 before parsing")
    link_hosts: str = Field(
        default="meet.yima.local",
        validation_alias=_env("YIMA_LINK_HOSTS"),
        description="hosts (or parent domains), comma-separated, whose https links from events may reach people "
                    "(video rooms); any other link is left out (docs/adr/0072)",
    )
    session_revocation_lookback_minutes: float = Field(
        default=120, gt=0, validation_alias=_env("YIMA_SESSION_REVOCATION_LOOKBACK_MINUTES"),
        description="how far back a starting process reads staff.session_revoked; must exceed the staff tokens' "
                    "lifetime (routing's token_ttl_minutes) so that no revoked token outlives what is read back",
    )
    log_level: str = Field(default="INFO", validation_alias=_env("YIMA_LOG_LEVEL"), description="log level")
    processed_retention_days: float = Field(
        default=90, gt=0,
        description="the processed-events ledger forgets an event after this many days; must exceed the longest "
                    "time a message can still be redelivered (topic retention, a DLQ replay), or it would be "
                    "processed twice")
    outbox_poll_seconds: float = Field(
        default=0.5, gt=0, validation_alias=_env("YIMA_OUTBOX_POLL_SECONDS"),
        description="outbox relay: first wait when idle (it wakes at once on a write of its own process)",
    )
    outbox_idle_max_seconds: float = Field(
        default=10.0, gt=0, validation_alias=_env("YIMA_OUTBOX_IDLE_MAX_SECONDS"),
        description="outbox relay: longest wait when idle (the wait doubles from the poll interval up to this); "
                    "bounds the delay of an entry written by another process",
    )
    outbox_gather_seconds: float = Field(
        default=0.03, ge=0, le=1, validation_alias=_env("YIMA_OUTBOX_GATHER_SECONDS"),
        description="outbox relay: a round woken by a commit starts at least this long after the previous one, "
                    "so a busy process's commits are published and marked in one round (issue 12)",
    )
    outbox_follow_changes: bool | None = Field(
        default=None, validation_alias=_env("YIMA_OUTBOX_FOLLOW_CHANGES"),
        description="outbox relay: wake on the outbox's change stream (writes of other processes); "
                    "unset = only when the relay runs without this process's consumers (role relay-outbox)",
    )
    consumer_batch_max: int = Field(
        default=100, ge=1, validation_alias=_env("YIMA_CONSUMER_BATCH_MAX"),
        description="most messages a consumer takes from one poll and processes in one transaction",
    )
    consumer_fetch_min_bytes: int = Field(
        default=65536, ge=1, validation_alias=_env("YIMA_CONSUMER_FETCH_MIN_BYTES"),
        description="a consumer's fetch returns once this much is waiting (or after the wait below): under load a "
                    "poll brings a larger batch, and a batch's ledger, outbox and commit are paid once (issue 12)",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=60, ge=0, le=1000, validation_alias=_env("YIMA_CONSUMER_FETCH_MAX_WAIT_MS"),
        description="longest a fetch waits for fetch_min_bytes: the most a lone message is delayed per hop",
    )
    consumer_fold: bool = Field(
        default=True, validation_alias=_env("YIMA_CONSUMER_FOLD"),
        description="one Kafka consumer per consumer group for all the named topics its handlers read (one fetch "
                    "loop instead of one per handler: ADR 0201); false = one consumer per handler, as before",
    )
    consumer_max_attempts: int = Field(
        default=5,
        validation_alias=_env("YIMA_CONSUMER_MAX_ATTEMPTS"),
        description="attempts for a message before it goes to dlq.<service>",
    )
    consumer_retry_base_seconds: float = Field(
        default=0.2, validation_alias=_env("YIMA_CONSUMER_RETRY_BASE_SECONDS"), description="retry backoff base"
    )

    secrets_dir: str = Field(
        default="", validation_alias=_env("YIMA_SECRETS_DIR"),
        description="a directory of files named after settings (sm4_key_hex, auth_public_keys, auth_private_key, "
                    "auth_kid …), written once by `python -m yima_kit.keys dir`; a setting left empty is read "
                    "from its file")

    @model_validator(mode="after")
    def _read_secret_files(self) -> Self:
        if not self.secrets_dir:
            return self
        for name in type(self).model_fields:
            path = Path(self.secrets_dir) / name
            if getattr(self, name) in ("", None) and path.is_file():
                setattr(self, name, path.read_text().strip())
        return self

    @property
    def db_name(self) -> str:
        return f"{self.mongo_db_prefix}yima_{self.service_name}"

    @property
    def kafka_auth(self) -> KafkaAuth:
        """How this service's Kafka clients authenticate (raises KafkaAuthError on inconsistent settings)."""
        return KafkaAuth(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ssl_cafile=self.kafka_ssl_cafile,
        )

    @property
    def link_policy(self) -> LinkPolicy:
        """Which links from events may reach people (http to loopback only in development)."""
        return LinkPolicy.from_setting(self.link_hosts, development=self.environment == "development")
