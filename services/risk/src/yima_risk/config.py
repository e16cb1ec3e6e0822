from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings

from .core.ruleset import DEFAULT_RULES_FILE


class RiskSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_RISK_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="risk", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8002, description="HTTP port (health, rule set, assessments)")
    kafka_metadata_max_age_seconds: float = Field(
        default=10, gt=0,
        description="metadata refresh: the pattern subscription to unit.<code>.feedback sees a new unit's topic "
                    "this soon (docs/adr/0071)")
    rules_file: Path = Field(default=DEFAULT_RULES_FILE, description="risk rules (versioned YAML), validated at start")
    followup_delay: timedelta = Field(
        default=timedelta(days=30),
        description="回头看: how long after a red case closes its follow-up visit comes due (ISO 8601 or seconds)",
    )
    followup_poll_seconds: float = Field(default=5.0, description="how often the follow-up timers are checked")
    routing_url: str = Field(
        default="http://127.0.0.1:8001",
        description="routing's base URL: warnings name places from its public org directory (GET /api/v1/units) "
        "and reach the units above the place; empty = places by code, the place's unit only")
    directory_refresh_seconds: float = Field(default=300.0, description="how often the org directory is re-read")
