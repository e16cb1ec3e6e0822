"""The dashboard (数据看板): one Chinese page with ECharts served from this service (works offline)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..config import InsightSettings

STATIC = resources.files("yima_insight") / "static"


def router(settings: InsightSettings) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    async def home() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    @r.get("/dashboard", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-cache"})

    @r.get("/static/{name}")
    async def static(name: str) -> Response:
        files = {"echarts.esm.min.js": "text/javascript", "dashboard.js": "text/javascript"}
        if name not in files:
            return Response(status_code=404)
        return Response((STATIC / name).read_bytes(), media_type=files[name],
                        headers={"Cache-Control": "public, max-age=3600"})

    @r.post("/dashboard/login")
    async def login(request: Request) -> Response:
        """Sign in with routing (the same staff accounts); the page keeps the token for its API calls."""
        try:
            body: Any = await request.json()
        except ValueError:
            return JSONResponse({"detail": "请求格式错误"}, status_code=422)
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            return JSONResponse({"detail": "请填写账号和密码"}, status_code=422)
        fwd = {k: str(body[k])[:128] for k in ("username", "password", "totp") if body.get(k)}
        try:
            async with httpx.AsyncClient(base_url=settings.routing_url, timeout=10) as client:
                res = await client.post("/api/v1/auth/login", json=fwd)
        except httpx.HTTPError:
            return JSONResponse({"detail": "暂时无法连接登录服务，请稍后再试"}, status_code=502)
        if res.status_code != 200:
            try:
                msg = str(res.json().get("message") or res.json().get("detail") or "")
            except ValueError:
                msg = ""
            return JSONResponse({"detail": msg or "登录失败，请检查账号和密码"},
                                status_code=res.status_code if res.status_code < 500 else 502)
        data = res.json()
        return JSONResponse({"access_token": data.get("access_token"), "unit": data.get("unit"),
                             "unit_name": data.get("unit_name"), "role": data.get("role")})

    return r
