from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class MediationSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_MEDIATION_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="mediation", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8003, description="HTTP port (health, sessions, agreements)")
