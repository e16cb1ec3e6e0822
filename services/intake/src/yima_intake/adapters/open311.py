"""Open311 GeoReport v2 (JSON) mapped onto the same intake, so existing civic-reporting apps can submit.

- ``GET  /open311/v2/services.json``: one service per category (``service_code`` = the public category code,
  plus ``auto`` for smart classification).
- ``POST /open311/v2/requests.json``: form-encoded (as the spec says) or JSON; becomes a ``SubmitCase`` of
  channel ``open311``; the same validation, repeat-report linking, rate limit and idempotency apply.
- ``GET  /open311/v2/requests/{id}.json``: the status of one request. ``service_request_id`` is the case id
  (a random UUID, not the sequential case number), and the answer carries no personal data and no description.

Errors follow the GeoReport format (``[{"code": 400, "description": "…"}]``) with Chinese descriptions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category
from yima_kit.errors import validation_errors

from ..core.identity import display_tracking_code
from ..core.submission import ChannelRuleError, SubmitCase
from ..core.taxonomy import SUB_ITEMS
from ..results import IdempotencyConflict, Submitted
from .http.common import Intake, client_address

router = APIRouter(prefix="/open311/v2", tags=["open311"])

AUTO = "auto"
_CLOSED = {"resolved", "closed", "rated", "followed_up", "transferred"}


def _err(status: int, description: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=[{"code": status, "description": description}])


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get("/services.json", summary="Open311: 服务（纠纷类别）列表")
async def services() -> list[dict[str, Any]]:
    out = [
        {"service_code": AUTO, "service_name": "不确定类别（智能分类）", "description": "由平台根据描述自动分类",
         "metadata": False, "type": "realtime", "keywords": "", "group": "纠纷调解"}
    ]
    out += [
        {"service_code": c.value, "service_name": CATEGORY_NAMES_ZH[c],
         "description": "、".join(SUB_ITEMS[c].values()), "metadata": False, "type": "realtime",
         "keywords": ",".join(SUB_ITEMS[c]), "group": "纠纷调解"}
        for c in Category
    ]
    return out


@router.post("/requests.json", status_code=201, summary="Open311: 提交纠纷",
             responses={400: {}, 409: {}, 429: {}})
async def create_request(
    request: Request, service: Intake, idempotency_key: Annotated[str | None, Header(max_length=128)] = None
) -> JSONResponse:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        return _err(413, "请求内容太大")
    form = parse_body(raw, request.headers.get("content-type", ""))
    if form is None:
        return _err(400, "请求体无法解析")
    settings = service.settings
    now = datetime.now(UTC)
    window = now.replace(second=0, microsecond=0)
    n = await service.hit_rate_limit(f"ip:{client_address(request, settings.trust_forwarded_for)}",
                                     window, window + timedelta(minutes=2))
    if n > settings.submit_rate_per_minute:
        return _err(429, "提交太频繁，请稍后再试")
    code = form.get("service_code", "").strip()
    if not code:
        return _err(400, "缺少service_code（纠纷类别）")
    if code != AUTO and code not in {c.value for c in Category}:
        return _err(404, f"没有这个service_code：{code[:40]}")
    try:
        cmd = SubmitCase.model_validate(submission_of(form, code))
        result = await service.submit(cmd, idempotency_key=f"open311:{idempotency_key}" if idempotency_key
                                      else None)
    except ValidationError as exc:
        errs = validation_errors(exc.errors())
        return JSONResponse(status_code=400, content=[
            {"code": 400, "description": f"{e['field']}：{e['message']}"} for e in errs])
    except ChannelRuleError as exc:
        return JSONResponse(status_code=400, content=[{"code": 400, "description": m} for _, _, m in exc.errors])
    except IdempotencyConflict:
        return _err(409, "同一个Idempotency-Key已用于另一份不同的申请")
    return JSONResponse(status_code=201 if result.created else 200, content=[
        {"service_request_id": result.case_id, "service_notice": notice_of(result), "account_id": None}])


@router.get("/requests/{service_request_id}.json", summary="Open311: 查询一个请求的状态",
            responses={404: {}})
async def get_request(
    service_request_id: Annotated[str, Path(min_length=1, max_length=64)], service: Intake
) -> JSONResponse:
    found = await service.request_status(service_request_id)
    if found is None:
        return _err(404, "没有这个请求")
    case, timeline = found
    last = timeline[-1] if timeline else None
    state = case.get("state", "submitted")
    cat = Category(case["category"])
    unit = next((t.get("acting_unit_name") for t in reversed(timeline) if t.get("acting_unit_name")), None)
    return JSONResponse(content=[{
        "service_request_id": case["_id"],
        "status": "closed" if state in _CLOSED or case.get("closed_at") else "open",
        "status_notes": last["title_zh"] if last else "",
        "service_name": CATEGORY_NAMES_ZH[cat],
        "service_code": cat.value,
        "agency_responsible": unit,
        "requested_datetime": _iso(case["submitted_at"]),
        "updated_datetime": _iso(last["occurred_at"]) if last else _iso(case["submitted_at"]),
    }])


def parse_body(raw: bytes, content_type: str) -> dict[str, str] | None:
    """Form-encoded (as the spec says) or JSON; the string fields only. None: the body cannot be read."""
    form: dict[str, Any]
    try:
        if "json" in content_type:
            loaded = json.loads(raw or b"{}")
            form = loaded if isinstance(loaded, dict) else {}
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True,
                                                 max_num_fields=50).items()}
    except (ValueError, UnicodeDecodeError):
        return None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def submission_of(form: dict[str, str], code: str) -> dict[str, Any]:
    """A GeoReport request as a ``SubmitCase`` of the open311 channel (``auto``: the classifier decides)."""
    name = (form.get("last_name", "").strip() + form.get("first_name", "").strip()) or form.get("name", "")
    location: dict[str, str] = {}
    if form.get("address_id", "").strip():
        location["unit_code"] = form["address_id"].strip()
    if form.get("address_string", "").strip():
        location["address"] = form["address_string"].strip()
    data: dict[str, Any] = {
        "channel": "open311",
        "applicant": {"name": name, "phone": form.get("phone", "")},
        "description": form.get("description", ""),
        "location": location,
    }
    if code != AUTO:
        data["category"] = code
    return data


def notice_of(result: Submitted) -> str:
    if result.tracking_code:
        return (f"已登记，案件编号{result.case_number}，查询码{display_tracking_code(result.tracking_code)}，"
                "凭查询码和手机号后四位查询进度")
    if result.repeat:
        return f"此纠纷已在案件{result.case_number}中登记，本次反映已并入（第{result.repeat_count}次）"
    return f"这份申请已经登记过了，案件编号{result.case_number}"
