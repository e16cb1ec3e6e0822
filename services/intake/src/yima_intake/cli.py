"""``yima-intake serve|api|consume|relay-outbox|sweep-retention``"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
import uvicorn
from yima_kit.cli import service_cli

from .app import create_app
from .config import IntakeSettings

app = service_cli("intake", create_app, lambda: IntakeSettings().http_port)


@app.command("sweep-retention")
def sweep_retention(
    host: str = "127.0.0.1",
    port: int = typer.Option(None, help="health and /metrics port"),
    once: bool = typer.Option(False, help="erase what is due now and exit (a scheduled job) instead of running"),
    as_of: str = typer.Option(None, help="with --once: sweep as if it were this time (ISO 8601, UTC if no zone): "
                                         "erases the cases that ended more than the period before it"),
) -> None:
    """保存期限届满的案件：删除个人信息. The retention sweeper alone (docs/retention.md): every
    YIMA_INTAKE_RETENTION_SWEEP_SECONDS it erases the personal data of cases past YIMA_INTAKE_RETENTION_DAYS
    and tells every service (case.retention_expired, through the outbox: a relay publishes it)."""
    settings = IntakeSettings()
    if not once:
        if as_of:
            raise typer.BadParameter("--as-of only with --once")
        uvicorn.run(create_app(settings, consume=False, relay=False, retention=True), host=host,
                    port=port or settings.http_port, log_config=None, access_log=False)
        return
    when = None
    if as_of:
        try:
            when = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise typer.BadParameter(f"--as-of 不是 ISO 8601 时间：{as_of!r}") from exc
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    erased = asyncio.run(_sweep_once(settings, when))
    typer.echo(f"已删除 {erased} 个案件的个人信息（保存期限 {settings.retention_days:g} 天）")


async def _sweep_once(settings: IntakeSettings, as_of: datetime | None) -> int:
    from yima_kit.runtime import Runtime

    from .adapters.retention import MongoRetention
    from .app import retention_sweeper

    rt = Runtime.create(settings)
    try:
        store = MongoRetention(rt.db)
        await store.setup()
        await rt.outbox.setup()
        return await retention_sweeper(settings, rt, store).sweep(as_of)
    finally:
        await rt.client.close()
