from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings

DATA = Path(__file__).parent / "data"


class RoutingSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_ROUTING_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="routing", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8001, description="HTTP port (health, directory, assignments)")
    directory_file: Path = Field(default=DATA / "demo_directory.yaml", description="org directory loaded at start")
    rules_file: Path = Field(default=DATA / "routing_rules.yaml", description="routing rules (versioned data)")
    unit_topic_partitions: int = Field(default=3, description="partitions of each unit.<code>.cases topic")
