"""The applicant's web pages (served by intake): ``submit`` (the home page, registering a dispute, the tracking
code and its QR code) and ``track`` (progress and rating), framed by ``layout``. Chinese, mobile-first, large text,
plain HTML forms: no JavaScript at all.

The pages use the same use cases as the API (one rule set), and never show personal data back except what
the applicant just typed into the form they are correcting.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from . import submit, track

router = APIRouter(include_in_schema=False)
router.include_router(submit.router)
router.include_router(track.router)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)
