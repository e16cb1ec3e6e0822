"""The mediation pages (调解工作台), moved from mediation's own /console into the console service: the unit's
mediation queue, a case with the forms its state and the person's role allow, the downloads, the registry of
mediators, experts and rooms, the unit's insurance claims. Every read and action is a call to mediation's API
with the signed-in person's token, so mediation checks scope and role and writes its audit record as for any
other client (docs/adr/0045-mediation-console.md, docs/adr/0085-staff-console-service.md)."""

from fastapi import APIRouter

from . import case, claims_list, people, queue

router = APIRouter()
for module in (queue, case, people, claims_list):
    router.include_router(module.router)

__all__ = ["router"]
