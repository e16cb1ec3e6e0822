from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from yima_kit.settings import KitSettings


class NotifySettings(KitSettings):
    model_config = SettingsConfigDict(env_prefix="YIMA_NOTIFY_", extra="ignore", populate_by_name=True)

    service_name: str = Field(default="notify", description="service name (database, consumer group, dlq)")
    http_port: int = Field(default=8004, description="HTTP port (health, inbox)")

    # --- channels (an empty endpoint switches the channel off: nothing is staged for it) -------------------
    sms_url: str = Field(default="", description="SMS gateway endpoint (HTTP POST JSON); empty = no SMS")
    sms_token: str = Field(default="", description="bearer token for the SMS gateway")
    sms_signature: str = Field(default="一码解纠纷", description="SMS signature (签名) registered with the gateway")
    wechat_url: str = Field(
        default="",
        description="WeChat template-message endpoint, e.g. https://api.weixin.qq.com/cgi-bin/message/template/send;"
        " empty = no WeChat",
    )
    wechat_access_token: str = Field(default="", description="access_token (kept fresh by the platform's token job)")
    wechat_template_id: str = Field(default="", description="the registered template id (模板ID)")
    smtp_host: str = Field(default="", description="SMTP server host; empty = no e-mail")
    smtp_port: int = Field(default=25, description="SMTP server port")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")
    smtp_user: str = Field(default="", description="SMTP login (empty = no login)")
    smtp_password: str = Field(default="", description="SMTP password")
    mail_from: str = Field(default="noreply@yima.local", description="From address of e-mails")
    webhook_allowed_hosts: list[str] = Field(
        default=[], description="hosts a unit admin may point the unit's webhook at (https only; a leading dot "
        "allows the subdomains, e.g. \".zz.gov.cn\"); empty = unit admins cannot set webhooks (the operator's "
        "unit_contacts_json still can)")
    webhook_private_networks: list[str] = Field(
        default=[], description="networks (CIDR, e.g. \"10.20.0.0/16\") an allowed webhook host may resolve to besides "
        "public addresses: the departments' systems on a government intranet; empty = only public addresses "
        "(a host that resolves inwards is refused at send time, docs/adr/0133)")
    webhook_secret: str = Field(default="", description="HMAC-SHA256 key signing outbound webhooks (X-Yima-Signature)")
    unit_contacts_json: str = Field(
        default="",
        description='units\' channels, JSON {"<unit_code>": {"webhook_url", "email", "wechat_openid"}}; '
        'the key "*" serves every other unit, "{unit}" in its values standing for the unit code; '
        "the admin API (PUT /api/v1/units/{code}/contacts) overrides per unit",
    )
    ops_unit_code: str = Field(
        default="ops", description="unit whose inbox hears of failed messages that concern no particular unit"
    )

    # --- delivery worker --------------------------------------------------------------------------------
    http_timeout_seconds: float = Field(default=5.0, description="timeout of one HTTP/SMTP call")
    adapter_tries: int = Field(default=2, description="quick tries inside one delivery attempt (connection errors)")
    max_attempts: int = Field(default=8, description="delivery attempts before a message is failed for good")
    retry_base_seconds: float = Field(default=2.0, description="backoff base between delivery attempts")
    retry_max_seconds: float = Field(default=600.0, description="longest wait between delivery attempts")
    breaker_threshold: int = Field(default=5, description="consecutive failures that open a channel's breaker")
    breaker_cooldown_seconds: float = Field(default=30.0, description="how long an open breaker waits to probe")
    claim_ttl_seconds: float = Field(
        default=60.0, description="a claimed delivery whose worker vanished is taken over after this long"
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="delivery worker: first wait when idle (a message queued in this process "
        "wakes it at once)")
    worker_idle_max_seconds: float = Field(
        default=10.0, gt=0, description="delivery worker: longest wait when idle (doubles from the poll interval; "
        "never past the next due message); bounds the delay of a message queued by another process")
    worker_gather_seconds: float = Field(
        default=0.05, ge=0, le=1, description="delivery worker: a round starts at least this long after the previous "
        "one, so what a busy process queues meanwhile goes in one round (issue 12)")
    worker_claim_batch: int = Field(default=50, ge=1, description="most batches one worker round claims and sends")
    worker_due_read_ahead: int = Field(
        default=2000, ge=1, description="delivery worker: due texts read at once and handed out to the next rounds "
        "(the stand-in's read costs every due entry whatever its limit: a backlog read per round grew quadratic; "
        "ADR 0218)")
    worker_due_read_ahead_seconds: float = Field(
        default=5.0, gt=0, description="delivery worker: how long texts read ahead are handed out before reading again")
    worker_round_seconds: float = Field(
        default=30.0, gt=0, description="delivery worker: bound of a round's claiming database calls together (a "
        "call that hangs fails the round, which is logged, and the loop goes on); a longer round is logged as slow")
    worker_enabled: bool = Field(default=True, description="run the delivery worker in this process")

    # --- people's time ---------------------------------------------------------------------------------
    quiet_hours: str = Field(
        default="22:00-08:00",
        description="Asia/Shanghai hours when non-urgent SMS/WeChat wait (HH:MM-HH:MM); empty = none",
    )
    digest_window_seconds: float = Field(
        default=120.0,
        description="at most one SMS/WeChat per recipient in this window; what comes meanwhile goes as one digest",
    )
    reminder_hours_before: float = Field(default=24.0, description="session reminder this long before it starts")
    mediation_public_url: str = Field(
        default="http://127.0.0.1:8003",
        description="mediation's public base URL: an invited expert's text links to <this>/invite/<code>, their page")
    track_max_failures: int = Field(default=5, description="wrong checks on one tracking code before a lock")
    track_lock_minutes: int = Field(default=15, description="lock after too many wrong checks")
