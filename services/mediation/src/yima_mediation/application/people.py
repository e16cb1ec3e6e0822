"""People and rooms: the registry of mediators and experts (with their declared relations, checked for
conflicts of interest), assigning a case's mediators, the unit's mediation rooms."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from .base import Refused, ServiceBase


class People(ServiceBase):
    async def register_person(self, claims: StaffClaims, kind: str, name: str, phone: str | None,
                              fields: list[str], relations: list[tuple[str, str]], employer: str | None,
                              staff_id: str | None, title_zh: str | None) -> dict[str, Any]:
        pid = str(uuid4())
        await self.store.people.insert({
            "_id": pid, "unit_code": claims.unit, "kind": kind, "name": self._enc(name, "person.name"),
            "name_idx": self._idx(name), "phone": self._enc(phone, "person.phone") if phone else None,
            "fields": fields, "title_zh": title_zh, "staff_id": staff_id,
            "relations": [{"name_idx": self._idx(n), "relation_zh": r} for n, r in relations],
            "employer_idx": self._idx(employer) if employer else None, "active": True, "created_at": self.now(),
        })
        return {"person_id": pid}

    async def list_people(self, claims: StaffClaims, kind: str | None, field: str | None,
                          unit: str | None) -> list[dict[str, Any]]:
        return [self.person_view(p) for p in await self.store.people.registry(unit or claims.unit, kind, field)]

    async def assign_mediators(self, assignment_id: str, claims: StaffClaims, person_ids: list[str]
                               ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            chosen: list[dict[str, Any]] = []
            errors = []
            for pid in person_ids:
                p = await self.store.people.get(pid, s, active=True)
                if p is None or p["kind"] != "mediator" or p["unit_code"] != case["unit_code"]:
                    errors.append({"field": "person_ids", "code": "not_a_mediator_of_unit",
                                   "message": f"{pid}不是本单位的调解员"})
                    continue
                name = self._dec(p["name"], "person.name")
                for reason in self._conflicts(p, case):
                    errors.append({"field": "person_ids", "code": "conflict_of_interest",
                                   "message": f"调解员{name}{reason}"})
                chosen.append({"person_id": pid, "name": name, "staff_id": p.get("staff_id")})
            if errors:
                raise Refused(409 if all(e["code"] == "conflict_of_interest" for e in errors) else 422,
                              "person_ids", errors[0]["code"], errors[0]["message"], errors)
            await self._move(s, case, "assign_mediators", None, {"mediators": chosen},
                             {"what": "mediators", "text_zh": "指定调解员：" + "、".join(c["name"] for c in chosen)})
            return {"mediators": [{"person_id": c["person_id"], "name": c["name"]} for c in chosen]}

        return await self._tx(work)

    async def add_room(self, claims: StaffClaims, name_zh: str) -> dict[str, Any]:
        rid = str(uuid4())
        await self.store.people.add_room({"_id": rid, "unit_code": claims.unit, "name_zh": name_zh})
        return {"room_id": rid}

    async def list_rooms(self, claims: StaffClaims, unit: str | None = None) -> list[dict[str, Any]]:
        return [{"room_id": r["_id"], "name_zh": r["name_zh"]}
                for r in await self.store.people.room_list(unit or claims.unit)]
