from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class ConsoleSettings(KitSettings):
    """The console keeps no data: it reads the token verification keys (YIMA_AUTH_PUBLIC_KEYS) and the URLs of
    the services whose APIs it calls with the signed-in person's token."""

    model_config = SettingsConfigDict(env_prefix="YIMA_CONSOLE_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="console", description="service name (logs)")
    http_port: int = Field(default=8006, description="HTTP port (the staff pages under /console, health)")
    routing_url: str = Field(default="http://127.0.0.1:8001", description="routing: login, queues, dispatch, admin")
    intake_url: str = Field(default="http://127.0.0.1:8000", description="intake: walk-in and proxy submissions")
    risk_url: str = Field(default="http://127.0.0.1:8002", description="risk: red cases, follow-up visits")
    mediation_url: str = Field(default="http://127.0.0.1:8003", description="mediation: the mediation pages' API")
    notify_url: str = Field(default="http://127.0.0.1:8004", description="notify: inbox, failures, contacts")
    insight_url: str = Field(default="http://127.0.0.1:8005",
                             description="insight: the analysts' one table and dashboard (linked and read)")
    insight_public_url: str = Field(default="", description="insight's address as the browser reaches it "
                                    "(for the dashboard link); empty = insight_url")
    api_timeout_seconds: float = Field(default=10.0, gt=0, description="timeout of a call to a service's API")
    secure_cookie: bool = Field(default=False, description="mark the session cookie Secure (behind HTTPS)")
    refresh_after_seconds: int = Field(default=300, ge=30, le=3600, description="a token older than this is "
                                       "refreshed at the holder's next page (routing ends sessions idle longer "
                                       "than its token lifetime)")
    poll_seconds: int = Field(default=15, ge=2, le=600,
                              description="how often an open supervision list asks for changes (ETag)")
