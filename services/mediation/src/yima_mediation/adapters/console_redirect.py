"""The staff console moved into its own service (services/console, docs/adr/0085): mediation's old /console
addresses (bookmarks, links in old messages) redirect there, path and query kept."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse


def router(console_url: str) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    base = console_url.rstrip("/")

    @r.api_route("/console", methods=["GET", "HEAD"])
    @r.api_route("/console/{path:path}", methods=["GET", "HEAD"])
    async def moved(request: Request, path: str = "") -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{base}/{path}{query}" if path else base, status_code=301)

    return r
