"""Risk's staff use cases (outside the consumers): correcting a case's level, the leader's follow-up visit, the
corrections as training examples. ``RiskService`` has these methods (a mixin over the same ports)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from yima_contracts import Actor, Event, topics
from yima_contracts.codes import ActorKind, RiskLevel
from yima_contracts.risk_events import RiskCorrected
from yima_kit.audit import AuditLog
from yima_kit.auth import StaffClaims
from yima_kit.crypto import FieldCipher
from yima_kit.uow import Tx, UnitOfWork

from .core.corrections import Correction, check_reason, direction_of
from .core.rules import Assessment
from .core.ruleset import RuleSet
from .ports import Doc, FollowupTimers, RiskRepository

T = TypeVar("T")


class StaffUseCases:
    repo: RiskRepository
    timers: FollowupTimers
    rules: RuleSet
    cipher: FieldCipher
    audit: AuditLog | None
    uow: UnitOfWork | None

    async def _reassess(self, case_id: str, cause: Event, tx: Tx) -> Assessment | None:
        raise NotImplementedError  # RiskService's

    async def run(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """A use case outside a consumer: one unit of work (yima_kit.uow), its events staged in the outbox."""
        if self.uow is None:
            raise RuntimeError("risk's staff use cases need the database client and the outbox")
        return await self.uow.run(work)

    async def correct_level(self, case_id: str, level: RiskLevel, reason_zh: str, claims: StaffClaims,
                            at: datetime) -> dict[str, Any]:
        """Staff set a case's level with a reason: kept (with the rules' level, for training), audited in the same
        transaction, published as case.risk_corrected and as the case's new case.risk_assessed."""
        reason = check_reason(reason_zh)

        async def work(tx: Tx) -> dict[str, Any]:
            s = tx.session
            case = await self.repo.case(case_id, s)
            if not case or not case.get("submitted") or not case.get("level"):
                raise LookupError("未找到该案件的风险评估")
            previous = RiskLevel(case["level"])
            rules_level = RiskLevel(case.get("own_level") or case["level"])
            direction = direction_of(level, previous)
            c = Correction(level, rules_level, previous, direction, reason, claims.sub, at)
            correction_id = str(uuid.uuid4())
            ev = RiskCorrected(
                case_id=case_id, correlation_id=case.get("correlation_id") or case_id,
                actor=Actor(kind=ActorKind.STAFF, unit_code=claims.unit, staff_id=claims.sub, role=claims.role),
                correction_id=correction_id, level=level, previous_level=previous, rules_level=rules_level,
                direction=direction, lowered=c.lowered, reason_zh=reason, unit_code=claims.unit,
                case_unit_code=case.get("unit_code"), needs_review=bool(case.get("needs_review")),
                ruleset_version=case.get("ruleset_version") or self.rules.version, occurred_at=at,
            )
            await self.repo.add_correction(
                {"_id": correction_id, "case_id": case_id, "category": case["category"], **c.to_doc(),
                 "reason_zh": self.cipher.encrypt(reason, context="risk.correction"),
                 "unit_code": claims.unit, "role": claims.role.value, "case_unit_code": case.get("unit_code"),
                 "needs_review": bool(case.get("needs_review")), "ruleset_version": ev.ruleset_version,
                 "event_id": str(ev.event_id), "trained": False},
                session=s)
            await self.repo.update_case(
                case_id, {"$set": {"correction": c.to_doc(), "lowered_by_staff": c.lowered or bool(
                    case.get("lowered_by_staff"))}, "$inc": {"corrections_count": 1}}, s, upsert=False)
            if self.audit is not None:
                await self.audit.append(s, actor=claims, action="risk.level_corrected", object_type="case",
                                        object_id=case_id, detail=f"{previous.value}→{level.value}（{direction}）",
                                        at=at)
            tx.emit(topics.CASE_RISK_CORRECTED, ev)
            await self._reassess(case_id, ev, tx)
            return {"correction_id": correction_id, "case_id": case_id, "level": level.value,
                    "previous_level": previous.value, "rules_level": rules_level.value, "direction": direction,
                    "lowered": c.lowered}

        result: dict[str, Any] = await self.run(work)
        return result

    async def record_visit(self, case_id: str, claims: StaffClaims, note: str, rebounded: bool) -> Doc:
        """回头看: the case's named leader records a follow-up visit. LookupError: no such red case;
        PermissionError: the caller is not its leader."""
        case = await self.repo.case(case_id, fields=["leader", "ever_red"])
        if not case or not case.get("ever_red"):
            raise LookupError("未找到该红色风险案件")
        if (case.get("leader") or {}).get("staff_id") != claims.sub:
            raise PermissionError("只有本案的包案领导可以登记回访")
        now = datetime.now(UTC)
        visit = {"at": now, "by": claims.sub, "name": claims.name, "note": note, "rebounded": rebounded}
        await self.repo.add_visit(case_id, visit)
        await self.timers.visited(case_id, now)  # a visit before the follow-up falls due is the follow-up
        return visit

    async def training_examples(self) -> AsyncIterator[tuple[str, str, RiskLevel]]:
        """Staff corrections as labelled examples for the next training: (category, text, level), the latest
        correction of each case. Decrypted here, for the training script only; never logged."""
        for d in await self.repo.latest_corrections():
            case = await self.repo.case(d["case_id"], fields=["description", "additional"])
            if not case:
                continue
            texts = [self.cipher.decrypt(case["description"], context="risk.description")]
            texts += [self.cipher.decrypt(t, context="risk.description") for t in case.get("additional", [])]
            yield d["category"], "。".join(texts), RiskLevel(d["level"])

