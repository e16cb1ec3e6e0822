"""The registry screen (admins, dispatchers): mediators and experts, the unit's rooms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from ...application import EXPERT_KINDS, Refused
from .deps import Svc, roles
from .models import PersonIn, RoomIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    handle, admin = roles(rt, "handle", "admin")

    # people, rooms
    @r.post("/people", status_code=201, summary="登记调解员或专家 Register a mediator or expert")
    async def register_person(svc: Svc, body: PersonIn, claims: StaffClaims = admin) -> Any:
        return await svc.register_person(claims, body.kind, body.name, body.phone, body.fields,
                                             [(x.name, x.relation_zh) for x in body.relations], body.employer,
                                             body.staff_id, body.title_zh)

    @r.get("/people", summary="调解员与专家库 Registry by unit and field")
    async def people(svc: Svc, 
        claims: StaffClaims = handle,
        kind: Annotated[str | None, Query(max_length=20)] = None,
        field: Annotated[str | None, Query(max_length=40)] = None,
        unit: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] = None,
    ) -> Any:
        if kind and kind not in (*EXPERT_KINDS, "mediator"):
            raise Refused(422, "kind", "enum", "取值不在允许范围内")
        return {"items": await svc.list_people(claims, kind, field, unit)}

    @r.get("/rooms", summary="调解室 The unit's rooms")
    async def rooms(svc: Svc, 
        claims: StaffClaims = handle,
        unit: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] = None,
    ) -> Any:
        return {"items": await svc.list_rooms(claims, unit)}

    @r.post("/rooms", status_code=201, summary="登记调解室 Register a room")
    async def add_room(svc: Svc, body: RoomIn, claims: StaffClaims = admin) -> Any:
        return await svc.add_room(claims, body.name_zh)

    return r
