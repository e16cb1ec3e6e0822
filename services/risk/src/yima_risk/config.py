from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class RiskSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_RISK_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="risk", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8002, description="HTTP port (health, assessments)")
