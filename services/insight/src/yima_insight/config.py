from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class InsightSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_INSIGHT_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="insight", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8005, description="HTTP port (the one table, rankings, reports, dashboard)")
    consumer_batch_max: int = Field(
        default=500, ge=1, validation_alias=AliasChoices("YIMA_CONSUMER_BATCH_MAX", "yima_consumer_batch_max"),
        description="most events one poll applies in one transaction: a read model gains most from big batches "
                    "(a batch costs a few bulk calls whatever its size; bench/README.md)")
    # A read model, not a hop of the case's pipeline: its polls wait longer for more events (ADR 0214). A poll's
    # batch reads and writes each fact and counter document once, so a case's events and many cases' shared
    # counter documents (everyone's, the district's, today's) gathered into one batch are written once, not once
    # per small poll. The table is at most ~2.5 s later (its figures carry ``as_of``).
    consumer_fetch_min_bytes: int = Field(
        default=256 << 10, ge=1,
        validation_alias=AliasChoices("YIMA_INSIGHT_CONSUMER_FETCH_MIN_BYTES", "YIMA_CONSUMER_FETCH_MIN_BYTES"),
        description="a poll returns once this much is waiting or after the wait below (larger than the platform's "
                    "64 KiB: insight's batches cost per batch, ADR 0214; a backlog larger than this returns at once)")
    consumer_fetch_max_wait_ms: int = Field(
        default=2500, ge=0, le=5000,
        validation_alias=AliasChoices("YIMA_INSIGHT_CONSUMER_FETCH_MAX_WAIT_MS", "YIMA_CONSUMER_FETCH_MAX_WAIT_MS"),
        description="longest a poll waits for the bytes above: how much later the table can be (ADR 0214)")
    kafka_metadata_max_age_seconds: float = Field(
        default=10, gt=0,
        description="metadata refresh: the pattern subscription to unit.<code>.cases and unit.<code>.feedback sees "
                    "a new unit's topics this soon (docs/adr/0071)")
    routing_url: str = Field(
        default="http://127.0.0.1:8001",
        description="routing's base URL: the dashboard signs staff in with routing's POST /api/v1/auth/login")
    mediation_url: str = Field(
        default="http://127.0.0.1:8003",
        description="mediation's base URL: livelihood-insurance claims per year (its staff API, the viewer's token)")
    score_weights: str = Field(
        default='{"settle_rate": 0.3, "on_time_rate": 0.3, "satisfaction": 0.2, "community_share": 0.2}',
        description="打分排名: weights of the unit score's parts, JSON (settle_rate, on_time_rate, satisfaction, "
        "community_share); the score is 100 × the weighted mean")
    target_community: float = Field(default=0.70, ge=0, le=1, description="target share settled in the community")
    target_three_levels: float = Field(default=0.95, ge=0, le=1, description="target share settled within three levels")
    report_schedule: bool = Field(
        default=True, description="the consume role writes the daily, weekly and monthly reports on schedule")
    report_dir: str = Field(default="", description="where scheduled reports are kept (empty: in the database)")
    cjk_font: str = Field(default="", description="path of a CJK TrueType font for PDF reports; empty = look it up")
    font_cache_dir: str = Field(default="~/.cache/yima/fonts", description="where a fetched CJK font is kept")
