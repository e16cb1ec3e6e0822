"""The unit's livelihood insurance claims (保险理赔) and, for those who manage, the year's figures."""



from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...api import ApiError
from ...ui import (
    PREFIX,
    SHANGHAI,
    Staff,
    messages,
)
from ...web import PageWeb
from .insurance import list_html
from .kit import (
    HANDLE,
    MANAGE,
    m,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/insurance", response_class=HTMLResponse)
async def insurance_list(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    errors: list[str] = []
    try:
        items = (await m(web, claims, "GET", "/api/v1/insurance-claims")).get("items", [])
    except ApiError as exc:
        items, errors = [], [exc.message]
    stats = None
    if claims.role in MANAGE:
        try:
            stats = await m(web, claims, "GET", "/api/v1/insurance-claims-stats",
                            params={"year": datetime.now(SHANGHAI).year})
        except ApiError:
            stats = None
    return await web.show("保险理赔", messages(errors) + list_html(items, stats), claims, here="/insurance")
