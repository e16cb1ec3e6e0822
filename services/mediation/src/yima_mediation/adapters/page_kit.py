"""Small helpers of mediation's one remaining web page (the invited expert's page, /invite)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request

from ..core.schedule import SHANGHAI

MAX_FORM_BYTES = 64 * 1024


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def local(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


async def read_form(request: Request) -> dict[str, list[str]]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return {}


def one(f: dict[str, list[str]], key: str) -> str:
    return (f.get(key) or [""])[0].strip()
