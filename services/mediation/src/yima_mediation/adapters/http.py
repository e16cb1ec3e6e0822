"""Mediation's staff API (every path scoped to the caller's unit) and the public agreement check.
Errors answer ``{"message", "errors": [{"field", "code", "message"}]}`` in Chinese."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import StaffRole
from yima_contracts.events import Phone
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from ..application import EXPERT_KINDS, IllegalMove, MediationService, Refused
from ..application.insurance import COVERED, InsuranceClaims

_MSG_ZH = {
    "missing": "缺少必填项", "extra_forbidden": "不认识的字段", "string_too_short": "内容太短",
    "string_too_long": "内容太长", "enum": "取值不在允许范围内", "literal_error": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确", "json_invalid": "请求体不是合法的JSON",
    "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确", "too_short": "至少需要一项", "too_long": "项数过多",
    "timezone_aware": "时间须带时区", "bool_parsing": "应为是或否",
}

R = StaffRole
MANAGE = (R.ADMIN, R.DISPATCHER, R.LEADER)  # 受理、退回、指定调解员
HANDLE = (R.ADMIN, R.DISPATCHER, R.LEADER, R.MEDIATOR)  # 调解的各项工作
REGISTRY = (R.ADMIN, R.DISPATCHER)  # 登记调解员、专家和调解室


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcceptIn(_In):
    kind: Literal["people", "administrative", "judicial"] = Field(
        default="people", description="人民调解 / 行政调解 / 司法调解")


class ReturnIn(_In):
    reason: str = Field(min_length=2, max_length=1000, description="退回理由")


class PartyIn(_In):
    role: Literal["respondent", "third_party"] = "respondent"
    name: str = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    is_organisation: bool = False


# The documents in full (agreement PDF, transfer package): a query parameter, as the downloads are GETs a
# browser follows; access logs are off in every service, and numbers in it are masked in the audit record.
Reason = Annotated[str | None, Query(max_length=200, description=(
    "下载原件的事由：承办单位受理、调解人员以外的人员必填（至少4个字，记入审计日志）"))]
NO_STORE = {"Cache-Control": "no-store"}  # the parties in full: not kept in a browser's or a proxy's cache


class RevealIn(_In):
    reason: str = Field(default="", max_length=200, description="查看完整信息的理由（记入审计日志）")


class WindowIn(_In):
    start: datetime
    end: datetime


class AvailabilityIn(_In):
    party_id: str = Field(max_length=8)
    windows: list[WindowIn] = Field(min_length=1, max_length=50)


class RelationIn(_In):
    name: str = Field(min_length=1, max_length=100)
    relation_zh: str = Field(min_length=1, max_length=20, description="亲属 / 同事 / 代理人 / 朋友 …")


class PersonIn(_In):
    kind: Literal["mediator", "judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy",
                  "sage", "volunteer"]
    name: str = Field(min_length=1, max_length=50)
    phone: Phone | None = None
    title_zh: str | None = Field(default=None, max_length=100, description="e.g. 河南某某律师事务所律师")
    fields: list[str] = Field(default_factory=list, max_length=20, description="categories of expertise")
    relations: list[RelationIn] = Field(default_factory=list, max_length=50, description="declared relations")
    employer: str | None = Field(default=None, max_length=100)
    staff_id: str | None = Field(default=None, max_length=64, description="mediators: their staff account")


class MediatorsIn(_In):
    person_ids: list[str] = Field(min_length=1, max_length=10)


class InviteIn(_In):
    person_id: str = Field(max_length=64)
    session_id: str | None = Field(default=None, max_length=64)


class AnswerIn(_In):
    accept: bool
    reason: str | None = Field(default=None, max_length=500)


class CallIn(_In):
    kind: Literal["judge", "lawyer", "mediator", "counsellor", "police", "prosecutor"]
    party_id: str = Field(max_length=8, description="the party who calls")
    unit: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                             description="whose registry (e.g. the court centre's judges); default the case's unit")


class RoomIn(_In):
    name_zh: str = Field(min_length=1, max_length=100)


class SessionIn(_In):
    mode: Literal["online", "offline", "async"]
    format: Literal["joint", "caucus"] = "joint"
    starts_at: datetime = Field(description="start; async: when the answer window opens")
    ends_at: datetime = Field(description="end; async: when the answer window closes")
    room_id: str | None = Field(default=None, max_length=64)
    join_url: str | None = Field(default=None, max_length=500, pattern=r"^https://")
    caucus_party_id: str | None = Field(default=None, max_length=8, description="背靠背: the party met alone")
    party_order: list[str] | None = Field(default=None, max_length=10, description="async: who answers in turn")


class TurnIn(_In):
    party_id: str = Field(max_length=8)
    statement: str = Field(min_length=1, max_length=5000)


class RecordIn(_In):
    attended: list[str] = Field(default_factory=list, max_length=50, description="party ids, person ids present")
    absent: list[str] = Field(default_factory=list, max_length=20, description="party ids who did not come")
    summary: str = Field(min_length=1, max_length=5000)
    next_step: str = Field(min_length=1, max_length=300)


class AgreementIn(_In):
    facts_zh: str = Field(min_length=1, max_length=3000)
    terms: list[str] = Field(min_length=1, max_length=30)


class ConfirmIn(_In):
    party_id: str = Field(max_length=8)
    method: Literal["signature", "sms_code", "video", "in_person"]


class JudicialIn(_In):
    court_zh: str = Field(min_length=2, max_length=100)


class JudicialAnswerIn(_In):
    confirmed: bool
    ruling_no: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class FailIn(_In):
    reason: str = Field(min_length=2, max_length=500)
    next: Literal["escalate", "transfer"]


class TransferIn(_In):
    to: Literal["arbitration", "litigation", "administrative"]
    receiving_body_zh: str = Field(min_length=2, max_length=100)


class ClaimIn(_In):
    cover: Literal[COVERED]  # type: ignore[valid-type]
    claimed_fen: int = Field(gt=0, le=10_000_000_00, description="claimed sum in fen (分)")
    incident_at: datetime
    summary: str = Field(min_length=1, max_length=2000)


class DecisionIn(_In):
    approve: bool
    paid_fen: int | None = Field(default=None, gt=0, le=10_000_000_00)
    reason: str = Field(min_length=2, max_length=500)


class DisputeIn(_In):
    reason: str = Field(min_length=2, max_length=1000)


class EvaluationIn(_In):
    satisfaction: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


def _error(status: int, errors: list[dict[str, str]], message: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message or errors[0]["message"], "errors": errors})


def install(app: FastAPI, service: MediationService, rt: Runtime, insurance: InsuranceClaims) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            ctx_error = (e.get("ctx") or {}).get("error")
            message = str(ctx_error) if ctx_error else _MSG_ZH.get(e["type"], "取值不正确")
            errors.append({"field": ".".join(loc), "code": e["type"], "message": message})
        return _error(422, errors, "提交的内容有误，请按提示修改")

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return _error(exc.status, exc.errors, exc.message)

    @app.exception_handler(IllegalMove)
    async def _illegal(_: Request, exc: IllegalMove) -> JSONResponse:
        # The one domain error of a case's moves (core/case.py), answered here once.
        return _error(409, [{"field": "state", "code": "illegal_transition", "message": str(exc)}])

    app.include_router(router(service, rt, insurance))


def router(service: MediationService, rt: Runtime, insurance: InsuranceClaims) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    manage = rt.require_staff(*MANAGE)
    handle = rt.require_staff(*HANDLE)
    admin = rt.require_staff(*REGISTRY)
    stats_staff = rt.require_staff(R.ADMIN, R.LEADER, R.ANALYST, R.DISPATCHER)

    # acceptance
    @r.get("/queue", summary="本单位待办 The unit's work queue (scope=below: and the units under it)")
    async def queue(claims: StaffClaims = handle, state: Annotated[str | None, Query(max_length=20)] = None,
                    scope: Annotated[Literal["own", "below"], Query()] = "own") -> Any:
        return {"items": await service.queue(claims, state, below=scope == "below")}

    @r.get("/cases/{assignment_id}", summary="案件详情 A case of the unit (parties masked unless the caller "
           "works it: contact_masked)")
    async def get_case(assignment_id: str, claims: StaffClaims = handle) -> Any:
        return await service.read_case(assignment_id, claims)

    # POST, not GET: the reason stays out of URLs, and a reveal is an act that writes its audit record
    @r.post("/cases/{assignment_id}/parties/{party_id}/contact",
            summary="查看当事人完整信息（须说明理由，留痕） Reveal a party's contact data with a reason")
    async def reveal_contact(assignment_id: str, party_id: str, body: RevealIn, response: Response,
                             claims: StaffClaims = handle) -> Any:
        response.headers["Cache-Control"] = "no-store"
        return await service.reveal_contact(assignment_id, claims, party_id[:8], body.reason)

    @r.post("/cases/{assignment_id}/accept", summary="受理 Accept")
    async def accept(assignment_id: str, body: AcceptIn, claims: StaffClaims = manage) -> Any:
        return await service.accept(assignment_id, claims, body.kind)

    @r.post("/cases/{assignment_id}/return", summary="退回 Return with a reason")
    async def give_back(assignment_id: str, body: ReturnIn, claims: StaffClaims = manage) -> Any:
        return await service.give_back(assignment_id, claims, body.reason)

    @r.post("/cases/{assignment_id}/parties", status_code=201, summary="登记其他当事人 Add a party")
    async def add_party(assignment_id: str, body: PartyIn, claims: StaffClaims = handle) -> Any:
        return await service.add_party(assignment_id, claims, body.role, body.name, body.phone, body.is_organisation)

    @r.put("/cases/{assignment_id}/availability", summary="当事人可参加时间 A party's availability")
    async def availability(assignment_id: str, body: AvailabilityIn, claims: StaffClaims = handle) -> Any:
        for w in body.windows:
            if w.start.tzinfo is None or w.end.tzinfo is None or w.end <= w.start:
                raise Refused(422, "windows", "bad_window", "时间段须带时区，且结束晚于开始")
        return await service.set_availability(assignment_id, claims, body.party_id,
                                              [(w.start, w.end) for w in body.windows])

    @r.post("/cases/{assignment_id}/mediators", summary="指定调解员 Assign mediators")
    async def mediators(assignment_id: str, body: MediatorsIn, claims: StaffClaims = manage) -> Any:
        return await service.assign_mediators(assignment_id, claims, body.person_ids)

    # people, rooms
    @r.post("/people", status_code=201, summary="登记调解员或专家 Register a mediator or expert")
    async def register_person(body: PersonIn, claims: StaffClaims = admin) -> Any:
        return await service.register_person(claims, body.kind, body.name, body.phone, body.fields,
                                             [(x.name, x.relation_zh) for x in body.relations], body.employer,
                                             body.staff_id, body.title_zh)

    @r.get("/people", summary="调解员与专家库 Registry by unit and field")
    async def people(
        claims: StaffClaims = handle,
        kind: Annotated[str | None, Query(max_length=20)] = None,
        field: Annotated[str | None, Query(max_length=40)] = None,
        unit: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] = None,
    ) -> Any:
        if kind and kind not in (*EXPERT_KINDS, "mediator"):
            raise Refused(422, "kind", "enum", "取值不在允许范围内")
        return {"items": await service.list_people(claims, kind, field, unit)}

    @r.get("/rooms", summary="调解室 The unit's rooms")
    async def rooms(
        claims: StaffClaims = handle,
        unit: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")] = None,
    ) -> Any:
        return {"items": await service.list_rooms(claims, unit)}

    @r.post("/rooms", status_code=201, summary="登记调解室 Register a room")
    async def add_room(body: RoomIn, claims: StaffClaims = admin) -> Any:
        return await service.add_room(claims, body.name_zh)

    # experts
    @r.post("/cases/{assignment_id}/invitations", status_code=201, summary="邀请专家 Invite an expert")
    async def invite(assignment_id: str, body: InviteIn, claims: StaffClaims = handle) -> Any:
        return await service.invite(assignment_id, claims, body.person_id, body.session_id)

    @r.get("/cases/{assignment_id}/invitations", summary="邀请情况 Invitations")
    async def invitations(assignment_id: str, claims: StaffClaims = handle) -> Any:
        return {"items": await service.list_invitations(assignment_id, claims)}

    @r.post("/invitations/{invitation_id}/answer", summary="专家答复 Accept or decline")
    async def answer(invitation_id: str, body: AnswerIn, claims: StaffClaims = handle) -> Any:
        return await service.answer_invitation(invitation_id, claims, body.accept, body.reason)

    @r.post("/invitations/{invitation_id}/resend",
            summary="重新发送邀请短信（新邀请码，旧码失效） Text the expert a new code (24 h limit)")
    async def resend(invitation_id: str, claims: StaffClaims = handle) -> Any:
        return await service.resend_invitation(invitation_id[:64], claims)

    # sessions
    @r.post("/cases/{assignment_id}/sessions", status_code=201, summary="安排调解 Schedule a session")
    async def schedule(assignment_id: str, body: SessionIn, claims: StaffClaims = handle) -> Any:
        if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
            raise Refused(422, "starts_at", "timezone_required", "时间须带时区")
        return await service.schedule(
            assignment_id, claims, mode=body.mode, fmt=body.format, starts_at=body.starts_at, ends_at=body.ends_at,
            room_id=body.room_id, join_url=body.join_url, caucus_party_id=body.caucus_party_id,
            party_order=body.party_order)

    @r.post("/cases/{assignment_id}/calls", status_code=201, summary="在线呼叫 Call someone in online, now")
    async def call(assignment_id: str, body: CallIn, claims: StaffClaims = handle) -> Any:
        return await service.call(assignment_id, claims, body.kind, body.party_id, body.unit)

    @r.post("/sessions/{session_id}/end-call", status_code=204, summary="结束在线呼叫 Free the person called")
    async def end_call(session_id: str, claims: StaffClaims = handle) -> Response:
        await service.end_call(session_id, claims)
        return Response(status_code=204)

    @r.get("/sessions/{session_id}", summary="调解场次 A session")
    async def get_session(session_id: str, claims: StaffClaims = handle) -> Any:
        s = await service.get_session(session_id, claims)
        s.pop("turns", None)
        if s.get("record"):
            s["record"] = {k: v for k, v in s["record"].items() if k != "summary"}
        return s

    @r.get("/cases/{assignment_id}/sessions", summary="案件的调解场次 A case's sessions, oldest first")
    async def sessions(assignment_id: str, claims: StaffClaims = handle) -> Any:
        return {"items": await service.list_sessions(assignment_id, claims)}

    @r.post("/sessions/{session_id}/turns", status_code=201, summary="错时调解答复 An answer in turn")
    async def turn(session_id: str, body: TurnIn, claims: StaffClaims = handle) -> Any:
        return await service.add_turn(session_id, claims, body.party_id, body.statement)

    @r.post("/sessions/{session_id}/record", summary="调解记录 Record a session")
    async def record(session_id: str, body: RecordIn, claims: StaffClaims = handle) -> Any:
        return await service.record_session(session_id, claims, body.attended, body.absent, body.summary,
                                            body.next_step)

    # agreement
    @r.post("/cases/{assignment_id}/agreement", status_code=201, summary="起草调解协议 Draft the agreement")
    async def draft(assignment_id: str, body: AgreementIn, claims: StaffClaims = handle) -> Any:
        return await service.draft_agreement(assignment_id, claims, body.facts_zh, body.terms)

    @r.get("/agreements/{agreement_id}", summary="调解协议（文本、确认情况、法院案号） The agreement as staff see it")
    async def agreement(agreement_id: str, claims: StaffClaims = handle) -> Any:
        return await service.agreement_view(agreement_id, claims)

    @r.post("/agreements/{agreement_id}/confirmations", summary="当事人确认 A party confirms")
    async def confirm(agreement_id: str, body: ConfirmIn, claims: StaffClaims = handle) -> Any:
        return await service.confirm(agreement_id, claims, body.party_id, body.method)

    @r.post("/agreements/{agreement_id}/sign", summary="签署并归档 Sign and archive (PDF, SHA-256)")
    async def sign(agreement_id: str, claims: StaffClaims = handle) -> Any:
        return await service.sign(agreement_id, claims)

    @r.get("/agreements/{agreement_id}/pdf", summary="协议书PDF The signed agreement")
    async def pdf(agreement_id: str, claims: StaffClaims = handle, reason: Reason = None) -> Response:
        data, _ = await service.agreement_pdf(agreement_id, claims, reason)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="agreement-{agreement_id}.pdf"', **NO_STORE})

    # public: anyone holding a copy may check it is the archived one (no personal data in the answer)
    @r.get("/verify/{sha256}", tags=["public"], summary="核验协议书 Verify an agreement by its SHA-256")
    async def verify(sha256: str) -> Any:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise Refused(400, "sha256", "invalid_hash", "摘要应为64位十六进制SHA-256")
        found = await service.verify(sha256)
        if found is None:
            return _error(404, [{"field": "sha256", "code": "not_found", "message": "未找到与该摘要一致的已签署协议"}])
        return found

    @r.post("/verify", tags=["public"], summary="上传文件核验 Verify an uploaded PDF")
    async def verify_upload(request: Request) -> Any:
        body = await request.body()
        if not body or len(body) > 20 * 1024 * 1024:
            raise Refused(400, "body", "bad_file", "请上传协议书PDF文件（不超过20MB）")
        digest = hashlib.sha256(body).hexdigest()
        found = await service.verify(digest)
        return found or {"valid": False, "sha256": digest, "message": "文件与平台存档不一致或未签署"}

    # judicial confirmation, closing, failure
    @r.post("/cases/{assignment_id}/judicial-confirmation", summary="申请司法确认 Send for judicial confirmation")
    async def judicial(assignment_id: str, body: JudicialIn, claims: StaffClaims = handle) -> Any:
        return await service.request_judicial(assignment_id, claims, body.court_zh)

    @r.post("/cases/{assignment_id}/judicial-confirmation/answer", summary="法院答复 The court's answer")
    async def judicial_answer(assignment_id: str, body: JudicialAnswerIn, claims: StaffClaims = handle) -> Any:
        return await service.judicial_answer(assignment_id, claims, body.confirmed, body.ruling_no, body.reason)

    @r.post("/cases/{assignment_id}/close", summary="结案 Close after an agreement")
    async def close(assignment_id: str, claims: StaffClaims = handle) -> Any:
        return await service.close(assignment_id, claims)

    @r.post("/cases/{assignment_id}/fail", summary="调解不成 Mediation failed")
    async def fail(assignment_id: str, body: FailIn, claims: StaffClaims = handle) -> Any:
        return await service.fail(assignment_id, claims, body.reason, body.next)

    @r.post("/cases/{assignment_id}/transfer", summary="诉调对接 Transfer with the case file")
    async def transfer(assignment_id: str, body: TransferIn, claims: StaffClaims = manage) -> Any:
        return await service.transfer(assignment_id, claims, body.to, body.receiving_body_zh)

    @r.get("/packages/{package_id}", summary="卷宗包 The case file package (zip)")
    async def package(package_id: str, claims: StaffClaims = handle, reason: Reason = None) -> Response:
        data, digest = await service.package_zip(package_id, claims, reason)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="case-file-{package_id}.zip"', "X-Content-SHA256": digest,
            **NO_STORE})

    # livelihood insurance claims (民生保险理赔)
    @r.post("/cases/{assignment_id}/insurance-claims", status_code=201, summary="理赔登记 Register a claim")
    async def claim(assignment_id: str, body: ClaimIn, claims: StaffClaims = handle) -> Any:
        if body.incident_at.tzinfo is None:
            raise Refused(422, "incident_at", "timezone_required", "时间须带时区")
        return await insurance.register(assignment_id, claims, body.cover, body.claimed_fen, body.incident_at,
                                        body.summary)

    @r.get("/insurance-claims", summary="理赔申请：一个案件的，或本单位最新的200件 Claims of a case or the unit")
    async def list_claims(claims: StaffClaims = handle,
                          assignment_id: Annotated[str | None, Query(max_length=64)] = None) -> Any:
        return {"items": await insurance.list_claims(claims, assignment_id)}

    @r.get("/insurance-claims/{claim_id}", summary="理赔详情 A claim")
    async def get_claim(claim_id: str, claims: StaffClaims = handle) -> Any:
        return await insurance.get(claim_id, claims)

    @r.post("/insurance-claims/{claim_id}/decision", summary="审核决定 Review and decide the payout")
    async def decide(claim_id: str, body: DecisionIn, claims: StaffClaims = manage) -> Any:
        return await insurance.decide(claim_id, claims, body.approve, body.paid_fen, body.reason)

    @r.post("/insurance-claims/{claim_id}/dispute", summary="对决定有异议 Dispute the decision")
    async def dispute(claim_id: str, body: DisputeIn, claims: StaffClaims = handle) -> Any:
        return await insurance.dispute(claim_id, claims, body.reason)

    @r.post("/insurance-claims/{claim_id}/review-decision", summary="复核决定 Decide again after a dispute")
    async def redecide(claim_id: str, body: DecisionIn, claims: StaffClaims = manage) -> Any:
        return await insurance.redecide(claim_id, claims, body.approve, body.paid_fen, body.reason)

    @r.post("/insurance-claims/{claim_id}/evaluation", summary="理赔评价 The claimant's evaluation")
    async def evaluate(claim_id: str, body: EvaluationIn, claims: StaffClaims = handle) -> Any:
        return await insurance.evaluate(claim_id, claims, body.satisfaction, body.comment)

    @r.get("/insurance-claims-stats", summary="理赔统计 Claims paid and sums by unit and year")
    async def claim_stats(
        year: Annotated[int, Query(ge=2000, le=2100)],
        unit: Annotated[str | None, Query(max_length=64)] = None,
        claims: StaffClaims = stats_staff,
    ) -> Any:
        return await insurance.stats(claims, year, unit)

    return r
