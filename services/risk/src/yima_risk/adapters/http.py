"""Risk's HTTP API — one router per audience, each route reaching the application through a dependency
(``app.state.service`` for the use cases, ``app.state.views`` for the read side):

- http_public.py — the active rule set (anyone);
- http_staff.py — a case's risk and its assessments, the early warnings (staff, scoped: core/scope.py);
- http_leader.py — 分包领导: my red cases, recording a follow-up visit (回头看);
- http_corrections.py — staff corrections of a level.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..core.scope import may_see
from ..service import RiskService
from ..views import RiskViews

__all__ = ["Service", "Views", "may_see", "router"]


def the_service(request: Request) -> RiskService:
    service: RiskService = request.app.state.service
    return service


def the_views(request: Request) -> RiskViews:
    views: RiskViews = request.app.state.views
    return views


Service = Annotated[RiskService, Depends(the_service)]
Views = Annotated[RiskViews, Depends(the_views)]


def router(require_staff: Any) -> APIRouter:
    """Every route of risk's API (each audience's router carries the prefix: the audit records its template)."""
    from . import http_corrections, http_leader, http_public, http_staff

    r = APIRouter()
    for part in (http_public.router(), http_staff.router(require_staff), http_leader.router(require_staff),
                 http_corrections.router(require_staff)):
        r.include_router(part)
    return r
