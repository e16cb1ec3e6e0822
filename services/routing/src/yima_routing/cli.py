"""``yima-routing serve|api|consume|relay-outbox|bootstrap-admin``"""

import asyncio

import typer
from yima_kit.cli import service_cli

from .app import create_app
from .config import RoutingSettings

app = service_cli("routing", create_app, lambda: RoutingSettings().http_port)


@app.command("bootstrap-admin")
def bootstrap_admin(
    staff_id: str = typer.Argument(..., help="the district admin's staff id, e.g. 410105-01"),
    reset: bool = typer.Option(False, help="enrol again although a district admin has TOTP (a lost phone)"),
) -> None:
    """首位区级管理员：设置初始密码并绑定动态口令（只显示这一次）. The first district admin's password and TOTP."""
    from .adapters.bootstrap import BootstrapRefused
    from .adapters.bootstrap import bootstrap_admin as run

    try:
        first = asyncio.run(run(RoutingSettings(), staff_id, reset=reset))
    except BootstrapRefused as exc:
        typer.echo(f"拒绝：{exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"区级管理员 {first.staff_id}（{first.name}，{first.unit}）已就绪。以下内容只显示这一次：\n"
               f"  初始密码（首次登录后须修改）：{first.password}\n"
               f"  动态口令密钥（录入身份验证器App）：{first.totp_secret}\n"
               f"  otpauth URI（可生成二维码扫描）：{first.otpauth_uri}")
