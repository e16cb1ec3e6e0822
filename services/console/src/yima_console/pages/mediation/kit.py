"""What the mediation pages need besides the console's page kit: mediation's labels, the moves its API allows
in each state (to show only the forms that can succeed — the API checks again and has the last word), the
form helper that asks a tick for steps that cannot be undone, and the context of one action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yima_kit.auth import StaffClaims

from ...api import ApiError
from ...ui import SHANGHAI, Staff, csrf_field, esc, one
from ...web import Web

# mediation's states and moves (services/mediation core/states.py): the API refuses an illegal move anyway
NEW, ACCEPTED, RETURNED, IN_MEDIATION, PAUSED = "new", "accepted", "returned", "in_mediation", "paused"
AGREED, FAILED, ESCALATED, TRANSFERRED, CLOSED = "agreed", "failed", "escalated", "transferred", "closed"
STATE_ZH = {
    NEW: "待受理", ACCEPTED: "已受理", RETURNED: "已退回", IN_MEDIATION: "调解中", PAUSED: "暂停（等待当事人）",
    AGREED: "已达成协议", FAILED: "调解不成", ESCALATED: "已提交上级", TRANSFERRED: "已转出", CLOSED: "已办结",
}
_WORKING = frozenset({ACCEPTED, IN_MEDIATION, PAUSED})
MOVES: dict[str, frozenset[str]] = {
    "accept": frozenset({NEW}), "return": frozenset({NEW}), "assign_mediators": _WORKING,
    "add_party": frozenset({NEW, ACCEPTED, IN_MEDIATION, PAUSED}), "invite": _WORKING,
    "answer_invitation": _WORKING, "schedule": _WORKING, "record": frozenset({IN_MEDIATION, PAUSED, AGREED, FAILED}),
    "draft_agreement": _WORKING, "sign": _WORKING, "judicial": frozenset({AGREED}), "close": frozenset({AGREED}),
    "fail": _WORKING, "transfer": frozenset({FAILED}),
}

MANAGE = ("admin", "dispatcher", "leader")  # 受理、退回、指定调解员 (mediation's API role sets)
HANDLE = ("admin", "dispatcher", "leader", "mediator")  # 调解的各项工作
REGISTRY = ("admin", "dispatcher")  # 登记调解员、专家和调解室

EXPERT_KINDS = ("judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy", "sage",
                "volunteer")
EXPERT_KIND_ZH = {"judge": "法官", "prosecutor": "检察官", "police": "民警", "lawyer": "律师",
                  "counsellor": "心理咨询师", "community_worker": "社区工作者", "deputy": "两代表一委员",
                  "sage": "乡贤", "volunteer": "志愿者", "mediator": "调解员"}
KIND_ZH = {"people": "人民调解", "administrative": "行政调解", "judicial": "司法调解"}
TRANSFER_ZH = {"arbitration": "仲裁", "litigation": "诉讼", "administrative": "行政处理"}
MODE_ZH = {"online": "线上视频调解", "offline": "线下调解", "async": "错时异步调解"}
REVEAL_REASON_MIN = 4
COVERED_ZH = {"personal_injury": "意外伤害", "property_damage": "财产损失", "medical": "医疗责任",
              "fire": "火灾", "natural_disaster": "自然灾害", "public_liability": "公共责任"}
CLAIM_MOVES = {"decide": {"registered"}, "dispute": {"decided"}, "redecide": {"disputed"},
               "evaluate": {"decided", "final"}}

METHOD_ZH = {"signature": "签字", "sms_code": "短信验证码", "video": "视频确认", "in_person": "当面确认"}
PARTY_ROLE_ZH = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}
SESSION_STATE_ZH = {"scheduled": "已安排", "held": "已举行", "no_show": "当事人未到场"}
INVITE_STATE_ZH = {"invited": "已邀请，待答复", "accepted": "已同意", "declined": "已谢绝", "refused": "因回避未邀请"}
FIELD_ZH = {"reason": "理由", "name": "姓名", "phone": "电话", "summary": "调解情况", "next_step": "下一步",
            "facts_zh": "基本事实", "terms": "协议条款", "receiving_body_zh": "接收机关", "starts_at": "开始时间",
            "ends_at": "结束时间", "room_id": "调解室", "join_url": "视频链接", "title_zh": "职务",
            "employer": "工作单位", "fields": "擅长领域", "kind": "类别", "to": "转往", "next": "后续",
            "paid_fen": "赔付金额", "claimed_fen": "申请金额", "cover": "险种", "incident_at": "出险时间",
            "satisfaction": "满意度", "comment": "意见", "statement": "答复内容", "party_id": "当事人",
            "unit": "单位代码", "party_order": "答复顺序", "name_zh": "名称", "windows": "可参加时间"}
OK_ZH = {"accept": "已受理", "return": "已退回", "party": "已登记当事人", "mediators": "已指定调解员",
         "invite": "已发出邀请", "answer": "已记录专家答复",
         "resend": "已重新发送邀请短信（原短信中的链接已失效）", "schedule": "已安排调解", "record": "已记录调解情况",
         "agreement": "已保存协议草稿", "confirm": "已记录当事人确认", "sign": "协议已签署并归档",
         "judicial": "已申请司法确认", "court": "已记录法院答复", "availability": "已记录可参加时间",
         "close": "已结案", "fail": "已记录调解不成", "transfer": "已移交，卷宗已生成",
         "person": "已登记", "room": "已登记调解室", "read": "已标为已读",
         "call": "已接通在线呼叫，视频链接见调解场次", "end_call": "已结束在线呼叫，被呼叫人已释放",
         "turn": "已登记当事人的答复",
         "reveal": "已显示该当事人的完整信息（本次查看及理由已记入审计日志）",
         "claim": "已登记理赔申请", "decide": "已作出理赔决定",
         "dispute": "已登记异议，待复核", "redecide": "已作出复核决定（最终结果）", "evaluate": "已登记理赔评价"}
# Steps that cannot be undone: the form asks for a tick, and the console checks it (a misclick changes nothing).
SURE_ZH = {"sign": "我已核对协议内容，各方均已确认；签署后不可修改", "close": "我已核对，结案后不可撤回",
           "fail": "我已核对，确认本案调解不成", "transfer": "我已核对接收机关；移交后本单位的办理即告结束",
           "redecide": "我已核对，复核决定为最终结果，不能再提出异议"}


class Refused(ApiError):
    """A refusal on the console's side, before the API is asked (same shape as the API's)."""

    def __init__(self, status: int, field: str, code: str, message: str) -> None:
        super().__init__(status, code, message, [{"field": field, "code": code, "message": message}])


def labelled(exc: ApiError) -> str:
    """The API's refusal with the fields named as the form names them (出险时间：…)."""
    parts = []
    for e in exc.errors:
        field = str(e.get("field") or "").split(".")
        name = next((FIELD_ZH[f] for f in reversed(field) if f in FIELD_ZH), "")
        msg = str(e.get("message") or "")
        if msg and name and not msg.startswith(name):
            parts.append(f"{name}：{msg}")
        elif msg:
            parts.append(msg)
    if not parts or (len(parts) == 1 and parts[0] == exc.message):
        return exc.message
    return "；".join(dict.fromkeys(parts))


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def next_turn(order: list[str], turns: list[str]) -> str:
    return order[len(turns) % len(order)]


def form(action: str, claims: StaffClaims, inner: str, button: str, bid: str, danger: bool = False) -> str:
    """A form posting to ``action`` (a full path), with the tick of an irreversible step."""
    cls = ' class="danger"' if danger else ""
    sure = SURE_ZH.get(action.rsplit("/", 1)[-1])
    if sure:
        inner += f'<label class="check"><input type="checkbox" name="sure" value="1" required>{esc(sure)}</label>'
    return (f'<form method="post" action="{esc(action)}" accept-charset="utf-8">{csrf_field(claims)}{inner}'
            f'<button type="submit" id="{esc(bid)}"{cls}>{esc(button)}</button></form>')


def beijing(date: str, time: str, what: str) -> str:
    """A date and a time typed in Beijing time, as the ISO text the API takes."""
    try:
        return datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=SHANGHAI).isoformat()
    except ValueError as exc:
        label = f"{FIELD_ZH[what]}：" if what in FIELD_ZH else ""
        raise Refused(422, what, "bad_time", f"{label}请填写完整的日期和时间（北京时间）") from exc


@dataclass
class Ctx:
    """One action on a case: who, which case, the submitted form, the way to mediation's API."""

    claims: Staff
    aid: str
    form: dict[str, list[str]]
    web: Web

    def get(self, key: str) -> str:
        return one(self.form, key)

    async def api(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return await self.web.call(self.claims, "mediation", method, path, json=json, params=params)


async def m(web: Web, claims: Staff, method: str, path: str, **kw: Any) -> Any:
    """A call to mediation's API with the person's token."""
    return await web.call(claims, "mediation", method, path, **kw)
