from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings

# Units of the demo directory that work inside yima (the others, e.g. 黄河社区 and the labour bureau, answer
# from their own systems). A deployment lists its own: code=name, comma-separated.
DEFAULT_PLATFORM_UNITS = ",".join([
    "410105=金水区矛盾纠纷多元化解中心",
    "410105001=丰产路街道",
    "410105001002=农业路社区",
    "410105002=经八路街道",
    "410105002001=经八路社区",
    "JSQ-LDTJ=金水区劳动争议人民调解委员会",
    "JSQ-YLTJ=金水区医疗纠纷人民调解委员会",
    "JSQ-WYTJ=金水区物业纠纷人民调解委员会",
    "JSQ-HJTJ=金水区婚姻家庭纠纷人民调解委员会",
    "JSQ-JTTJ=金水区道路交通事故纠纷人民调解委员会",
    "JSQ-FYSD=金水区人民法院诉调对接中心",
])


class MediationSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_MEDIATION_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="mediation", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8003, description="HTTP port (health, sessions, agreements)")
    platform_units: str = Field(
        default=DEFAULT_PLATFORM_UNITS,
        description="units that work inside yima (their work orders are consumed here): code=name, comma-separated",
    )
    unit_topic_partitions: int = Field(default=3, description="partitions of a unit.<code>.cases topic if we create it")
    video_base_url: str = Field(default="https://meet.yima.local/room", description="base of online session links")
    no_shows_before_failure: int = Field(
        default=2, description="a party's no-shows that end mediation as failed (the first pauses the case)")
    call_minutes: int = Field(default=30, description="how long a person called in online (在线呼叫) is held")
    cjk_font: str = Field(default="", description="path of a CJK TrueType font for agreements; empty = look it up")
    font_cache_dir: str = Field(
        default="~/.cache/yima/fonts",
        description="where the Debian font package is unpacked when no font is installed")
    prefetch_font: bool = Field(default=True, description="look up (or fetch) the CJK font at start, in the background")

    def font_cache_path(self) -> Path:
        return Path(self.font_cache_dir).expanduser()

    def unit_names(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.platform_units.split(","):
            code, _, name = item.strip().partition("=")
            if code:
                out[code.strip()] = name.strip() or code.strip()
        return out
