"""Livelihood insurance claims (民生保险理赔) for disputes the district's insurance covers: registration,
review, the payout decision with its amount, a dispute over the decision (one re-review), and the
claimant's evaluation. Sums are kept in fen (integers) and counted in the statistics by unit and year.

Moves: registered → decided (approved with an amount, or rejected with a reason) → disputed → final →
evaluated; a decision not disputed may be evaluated directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts.codes import CaseState
from yima_kit.auth import StaffClaims
from yima_kit.outbox import Outgoing

from ..core.schedule import SHANGHAI
from ..core.timefmt import aware
from ..ports import ClaimRepository, Store
from .base import Refused, ServiceBase

COVERED = ("personal_injury", "property_damage", "medical", "fire", "natural_disaster", "public_liability")
COVERED_ZH = {"personal_injury": "意外伤害", "property_damage": "财产损失", "medical": "医疗责任",
              "fire": "火灾", "natural_disaster": "自然灾害", "public_liability": "公共责任"}
MOVES = {"decide": {"registered"}, "dispute": {"decided"}, "redecide": {"disputed"},
         "evaluate": {"decided", "final"}}


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


class InsuranceClaims:
    def __init__(self, service: ServiceBase) -> None:
        self.svc = service
        self.store: Store = service.store
        self.repo: ClaimRepository = service.store.claims

    async def _claim(self, claim_id: str, claims: StaffClaims, s: AsyncClientSession | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        c = await self.repo.get(claim_id, s)
        if c is None or not claims.may_act_on(c["unit_code"], c.get("unit_path", ())):
            raise Refused(404, "claim_id", "not_found", "未找到该理赔申请")
        return c, await self.svc._case(c["assignment_id"], claims, s)

    @staticmethod
    def _check(move: str, state: str) -> None:
        if state not in MOVES[move]:
            raise Refused(409, "state", "illegal_transition", "理赔申请当前状态不能进行此操作")

    def view(self, c: dict[str, Any]) -> dict[str, Any]:
        return {"claim_id": c["_id"], "assignment_id": c["assignment_id"], "state": c["state"],
                "cover": c["cover"], "cover_zh": COVERED_ZH[c["cover"]], "claimed_fen": c["claimed_fen"],
                "paid_fen": c.get("paid_fen"), "decision": c.get("decision"), "dispute": c.get("dispute"),
                "evaluation": c.get("evaluation"), "history": c.get("history", [])}

    async def register(self, assignment_id: str, claims: StaffClaims, cover: str, claimed_fen: int,
                       incident_at: datetime, summary: str) -> dict[str, Any]:
        case = await self.svc._case(assignment_id, claims)
        cid = str(uuid4())
        doc = {"_id": cid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []),
               "cover": cover, "claimed_fen": claimed_fen, "incident_at": incident_at,
               "summary": self.svc._enc(summary, "insurance.summary"), "state": "registered",
               "registered_at": datetime.now(UTC),
               "history": [{"at": datetime.now(UTC), "what": "registered", "by": claims.sub}]}
        await self.repo.insert(doc)
        return self.view(doc)

    async def get(self, claim_id: str, claims: StaffClaims) -> dict[str, Any]:
        c, _ = await self._claim(claim_id, claims)
        return self.view(c)

    async def list_claims(self, claims: StaffClaims, assignment_id: str | None = None) -> list[dict[str, Any]]:
        """Claims of one case (checked like the case), or the unit's newest 200, each with its case number and
        when it was registered (for the console's pages)."""
        if assignment_id is not None:
            assignment_id = (await self.svc._case(assignment_id, claims))["_id"]
        found = await self.repo.newest(assignment_id, claims.unit)
        numbers = await self.store.cases.case_numbers(list({x["assignment_id"] for x in found}))
        return [self.view(c) | {"case_number": numbers.get(c["assignment_id"], ""),
                                "registered_at": aware(c.get("registered_at")),
                                "incident_at": aware(c.get("incident_at"))}
                for c in found]

    async def _decide(self, claim_id: str, claims: StaffClaims, move: str, approve: bool, paid_fen: int | None,
                      reason: str) -> dict[str, Any]:
        if approve and not paid_fen:
            raise Refused(422, "paid_fen", "amount_required", "核准赔付须填写赔付金额")

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            c, case = await self._claim(claim_id, claims, s)
            self._check(move, c["state"])
            if approve and paid_fen and paid_fen > c["claimed_fen"]:
                raise Refused(422, "paid_fen", "over_claim", "赔付金额不能超过申请金额")
            now = datetime.now(UTC)
            paid = (paid_fen or 0) if approve else 0
            state = "decided" if move == "decide" else "final"
            decision = {"approved": approve, "paid_fen": paid, "reason": reason, "at": now, "by": claims.sub,
                        "final": move == "redecide"}
            if not await self.repo.move(claim_id, c["state"], {
                    "state": state, "paid_fen": paid, "decision": decision,
                    "decided_year": now.astimezone(SHANGHAI).year},
                    {"at": now, "what": state, "by": claims.sub, "paid_fen": paid}, s):
                raise Refused(409, "state", "concurrent_change", "理赔申请刚被他人更新，请刷新后重试")
            title = (f"保险理赔{'复核' if move == 'redecide' else ''}结果：核准赔付{yuan(paid)}元" if approve
                     else f"保险理赔{'复核' if move == 'redecide' else ''}结果：不予赔付")
            nxt = ("如对结果有异议，可在收到通知后提出复核" if move == "decide"
                   else "复核结果为最终结果，欢迎对理赔服务进行评价")
            out.append(self.svc._status(case, claims, CaseState(case_state(case)), title, reason[:200], nxt))
            return self.view({**c, "state": state, "paid_fen": paid, "decision": decision})

        return await self.svc._tx(work)

    async def decide(self, claim_id: str, claims: StaffClaims, approve: bool, paid_fen: int | None, reason: str
                     ) -> dict[str, Any]:
        return await self._decide(claim_id, claims, "decide", approve, paid_fen, reason)

    async def redecide(self, claim_id: str, claims: StaffClaims, approve: bool, paid_fen: int | None, reason: str
                       ) -> dict[str, Any]:
        return await self._decide(claim_id, claims, "redecide", approve, paid_fen, reason)

    async def dispute(self, claim_id: str, claims: StaffClaims, reason: str) -> dict[str, Any]:
        c, _ = await self._claim(claim_id, claims)
        self._check("dispute", c["state"])
        now = datetime.now(UTC)
        if not await self.repo.move(claim_id, "decided", {
                "state": "disputed", "dispute": {"reason": reason, "at": now, "by": claims.sub}},
                {"at": now, "what": "disputed", "by": claims.sub}):
            raise Refused(409, "state", "concurrent_change", "理赔申请刚被他人更新，请刷新后重试")
        return {"claim_id": claim_id, "state": "disputed"}

    async def evaluate(self, claim_id: str, claims: StaffClaims, satisfaction: int, comment: str | None
                       ) -> dict[str, Any]:
        c, _ = await self._claim(claim_id, claims)
        self._check("evaluate", c["state"])
        now = datetime.now(UTC)
        if not await self.repo.move(claim_id, c["state"], {
                "state": "evaluated", "evaluation": {"satisfaction": satisfaction, "comment": comment, "at": now}},
                {"at": now, "what": "evaluated", "by": claims.sub}):
            raise Refused(409, "state", "concurrent_change", "理赔申请刚被他人更新，请刷新后重试")
        return {"claim_id": claim_id, "state": "evaluated"}

    async def stats(self, claims: StaffClaims, year: int, unit: str | None) -> dict[str, Any]:
        # The caller's unit and every unit below it (a district sees its district's total); ``unit`` narrows
        # to one unit of that subtree. Sums only, no personal data.
        scope: dict[str, Any] = {"unit_path": claims.unit, **({"unit_code": unit} if unit else {})}
        if unit and unit != claims.unit and not await self.repo.any_in(scope):
            raise Refused(404, "unit", "not_found", "无权查看该单位的统计（只能查看本单位及下级单位）")
        r = await self.repo.sums(scope, year) or {"decided": 0, "paid": 0, "paid_fen": 0, "disputed": 0}
        return {"unit_code": unit or claims.unit, "year": year, "claims_decided": r["decided"],
                "claims_paid": r["paid"],
                "paid_fen": r["paid_fen"], "paid_yuan": yuan(r["paid_fen"]), "disputed": r["disputed"]}


def case_state(case: dict[str, Any]) -> str:
    """The applicant-visible state while a claim moves: the case's own stage."""
    return {"agreed": "resolved", "closed": "closed", "transferred": "transferred"}.get(case["state"], "in_mediation")
