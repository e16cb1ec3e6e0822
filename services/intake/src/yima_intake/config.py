from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class IntakeSettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_INTAKE_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="intake", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8000, description="HTTP port of the public and staff API")
    case_number_prefix: str = Field(
        default="JSQ", pattern=r"^[A-Z]{1,6}$", description="district prefix of case numbers, e.g. JSQ (金水区)"
    )
    case_number_block: int = Field(
        default=20, ge=1, le=1000, description="case numbers a process reserves at a time with one atomic increment "
        "and hands out from memory (ADR 0211); a process that stops without giving back leaves the rest unused (a "
        "gap), and numbers from several replicas interleave; 1: one database increment per submission"
    )
    submit_group_max: int = Field(
        default=32, ge=1, le=500, description="new cases that at most share one transaction: submissions that come "
        "while the last one commits go together in the next (group commit, ADR 0219); 1: a transaction each"
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="base URL the tracking QR codes point to"
    )
    track_max_failures: int = Field(default=5, description="wrong phone checks before a tracking code locks")
    track_lock_minutes: int = Field(default=15, description="how long a tracking code stays locked")
    repeat_window_days: int = Field(
        default=30, ge=0, description="a report of the same dispute by the same applicant within this many days "
        "is linked to the first case as a repeat report"
    )
    submit_rate_per_minute: int = Field(
        default=60, ge=1, description="submissions one client (IP address) may make per minute "
        "(generous: carrier-grade NAT puts many residents behind one address)"
    )
    staff_submit_rate_per_minute: int = Field(
        default=300, ge=1, description="submissions one staff account may make per minute"
    )
    trust_forwarded_for: bool = Field(
        default=False, description="take the client address from X-Forwarded-For (only behind a trusted proxy)"
    )
    notify_url: str = Field(
        default="http://127.0.0.1:8004", description="notify's base URL: the tracking page shows the applicant's "
        "messages from notify's in-app inbox (asked only after intake's own tracking-code and phone check passed)"
    )
    notify_timeout_seconds: float = Field(
        default=2.0, gt=0, le=10, description="how long the tracking page waits for notify's inbox in all; "
        "slower or failing, the page shows its progress without the messages (no retry)"
    )
    # Retention (docs/retention.md, docs/adr/0125): the platform's working copy of a case's personal data is erased
    # this long after the case ended; the case file of record is archived by the mediation committee (档案).
    retention_days: float = Field(
        default=1826, gt=0, description="days after a case ended (closed, transferred, resolved) that its personal "
        "data is kept in every store; then it is erased (default 5 years: the 3-year limitation period of the Civil "
        "Code art. 188, follow-up visits and appeals included)"
    )
    retention_sweep_seconds: float = Field(
        default=3600, gt=0, description="how often the retention sweeper looks for cases past their period"
    )
    retention_sweep_in_serve: bool = Field(
        default=True, description="the all-in-one serve role runs the retention sweeper too (the local run, "
        "compose); false where the sweep-retention role runs apart (deploy/k8s)"
    )
    retention_batch: int = Field(default=100, ge=1, le=10_000, description="cases the sweeper erases per batch")
