from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings

DATA = Path(__file__).parent / "data"


class RoutingSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_ROUTING_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="routing", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8001, description="HTTP port (health, directory, login, staff API)")
    kafka_metadata_max_age_seconds: float = Field(
        default=10, gt=0,
        description="metadata refresh: the pattern subscription to unit.<code>.feedback sees a new unit's topic "
                    "this soon (docs/adr/0071)")
    directory_file: Path = Field(
        default=DATA / "jinshui_directory.json",
        description="org directory seed (units + staff) loaded into the database at start; admin edits win",
    )
    rules_file: Path = Field(default=DATA / "routing_rules.yaml", description="routing rules (versioned data)")
    unit_topic_partitions: int = Field(default=1, description="partitions of each unit.<code>.cases topic")
    eager_topic_kinds: list[str] = Field(
        default=["district", "department", "committee", "court_centre"],
        description="unit kinds whose unit.<code>.cases topic is created at start (others at first assignment)",
    )
    seed_staff_password: str = Field(
        default="Yima#Demo2026",
        description="initial password of seeded staff (must be changed at first login); empty = no password. "
        "Demo only: a production seed sets it empty and admins set passwords",
    )
    auth_private_key: str = Field(default="", description="Ed25519 private key (PEM) signing staff tokens; "
                                  "empty = the development key (warns)")
    auth_kid: str = Field(default="", description="key id of auth_private_key (verifiers look it up by kid); "
                          "empty = dev")
    login_max_failures: int = Field(default=5, description="failed logins in a row before the account locks")
    login_lockout_minutes: int = Field(default=15, description="how long a locked account stays locked")
    token_ttl_minutes: int = Field(default=30, description="staff token lifetime (the console refreshes in use)")
    session_idle_minutes: int = Field(default=30, description="a session not refreshed for this long ends")
    login_max_failures_per_source: int = Field(
        default=30, description="failed logins from one address (any accounts) within 15 minutes before it waits")
    trust_forwarded_for: bool = Field(
        default=False, description="take the client address from X-Forwarded-For (only behind your own proxy)")
    sweep_seconds: float = Field(default=5.0, description="how often the supervision sweeper looks for due steps")
    directory_refresh_seconds: float = Field(default=5.0, description="how often a replica checks for directory edits")
