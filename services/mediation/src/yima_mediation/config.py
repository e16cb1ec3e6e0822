from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class MediationSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_MEDIATION_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="mediation", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8003, description="HTTP port (health, sessions, agreements)")
    sessions_at_any_hour: bool = Field(
        default=False, description="book online/offline sessions at any hour and day (a centre with evening and "
        "weekend sessions; the e2e tests book sessions seconds ahead); off = working blocks of working days only")
    kafka_metadata_max_age_seconds: float = Field(
        default=10, gt=0,
        description="metadata refresh: the work-order pattern subscription sees a newly created unit topic this soon")
    video_base_url: str = Field(default="https://meet.yima.local/room", description="base of online session links")
    no_shows_before_failure: int = Field(
        default=2, description="a party's no-shows that end mediation as failed (the first pauses the case)")
    call_minutes: int = Field(default=30, description="how long a person called in online (在线呼叫) is held")
    cjk_font: str = Field(default="", description="path of a CJK TrueType font for agreements; empty = look it up")
    font_cache_dir: str = Field(
        default="~/.cache/yima/fonts",
        description="where the Debian font package is unpacked when no font is installed")
    prefetch_font: bool = Field(default=True, description="look up (or fetch) the CJK font at start, in the background")

    console_url: str = Field(
        default="http://127.0.0.1:8006/console",
        description="the staff console's address as browsers reach it: the old /console pages of mediation "
                    "redirect there (the console is a service of its own, docs/adr/0085)")
    invite_max_failures: int = Field(
        default=5, ge=1, description="wrong phone checks on one expert invitation code before the code locks")
    invite_lock_minutes: int = Field(
        default=15, ge=1, description="how long an expert invitation code stays locked after too many wrong checks")
    invite_resend_max_per_day: int = Field(
        default=3, ge=1,
        description="times staff may resend one expert's invitation SMS (a new code) in 24 hours: a slip cannot "
                    "text someone again and again")

    def font_cache_path(self) -> Path:
        return Path(self.font_cache_dir).expanduser()
