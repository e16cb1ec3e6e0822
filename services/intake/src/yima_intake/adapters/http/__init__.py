"""The intake HTTP API under ``/api/v1``, one module per route group: ``cases`` (registering a dispute, the public
and the staff channels), ``tracking`` (the applicant's code: progress, rating, its QR code), ``reference``
(categories, classification, a unit's QR code). Routes reach the service through ``common.Intake`` (a FastAPI
dependency on ``app.state.intake``); errors answer in the kit's one shape (yima_kit.errors), in Chinese."""

from __future__ import annotations

from fastapi import APIRouter

from . import cases, reference, tracking
from .common import client_address

__all__ = ["client_address", "router"]

router = APIRouter(prefix="/api/v1")
router.include_router(cases.router)
router.include_router(reference.router)
router.include_router(tracking.router)
