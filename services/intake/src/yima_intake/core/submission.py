"""The submission command (what ``POST /api/v1/cases`` accepts), the rules per channel, and the
applicant-visible texts. Pure: the HTTP adapter turns :class:`ChannelRuleError` into a 4xx list."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from yima_contracts import Location, Party
from yima_contracts.codes import Category, Channel, StaffRole
from yima_contracts.events import WECHAT_OPENID_PATTERN, PersonName, Phone, ProxyInfo, Respondent, VulnerableKind
from yima_contracts.personal import validate_resident_id

from .taxonomy import SUB_ITEMS

# Channels only staff may use (a signed staff token names the unit and the role).
STAFF_CHANNELS: frozenset[Channel] = frozenset({
    Channel.RECEPTION, Channel.PROXY, Channel.GRID, Channel.HOTLINE_12345, Channel.POLICE_110,
    Channel.COURT_REFERRAL, Channel.PETITION,
})
# Which staff roles may register through which staff channel.
_DESK_ROLES = frozenset({StaffRole.DISPATCHER, StaffRole.ADMIN, StaffRole.LEADER})
CHANNEL_ROLES: dict[Channel, frozenset[StaffRole]] = {
    ch: _DESK_ROLES for ch in STAFF_CHANNELS
} | {Channel.GRID: frozenset({StaffRole.GRID_WORKER, StaffRole.DISPATCHER, StaffRole.ADMIN})}
# 接件即办: only where a staff member meets the applicant.
SETTLE_ON_SPOT_CHANNELS = frozenset({Channel.RECEPTION, Channel.GRID, Channel.PROXY})
CHANNEL_NAMES_ZH: dict[Channel, str] = {
    Channel.SELF_SERVICE: "扫码/网上自助",
    Channel.RECEPTION: "窗口接待",
    Channel.PROXY: "代办",
    Channel.GRID: "网格员上报",
    Channel.HOTLINE_12345: "12345热线",
    Channel.POLICE_110: "110转办",
    Channel.COURT_REFERRAL: "法院诉前委派",
    Channel.PETITION: "信访",
    Channel.OPEN311: "Open311",
}


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PersonName = Field(description="申请人姓名（少数民族姓名可含“·”）")
    phone: Phone = Field(description="手机号或带区号的固话")
    resident_id: str | None = Field(default=None, max_length=30, description="居民身份证号（18位，可选）")
    wechat_openid: str | None = Field(
        default=None, pattern=WECHAT_OPENID_PATTERN,
        description="微信 openid（通过小程序/公众号提交时由前端带上；有则进度通知走微信模板消息，否则短信）")

    @field_validator("resident_id")
    @classmethod
    def _rid(cls, v: str | None) -> str | None:
        return validate_resident_id(v) if v else None

    def party(self) -> Party:
        return Party(name=self.name, phone=self.phone)


class SubmitCase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel = Field(description="渠道: self_service, reception, proxy, grid, hotline_12345, …")
    applicant: Applicant
    description: str = Field(min_length=5, max_length=5000, description="纠纷描述（至少5个字）")
    category: Category | None = Field(default=None, description="纠纷类别; omitted → smart classification")
    sub_item: str | None = Field(default=None, max_length=64, description="纠纷细类（须属于所选类别）")
    location: Location = Field(default_factory=Location)
    respondent: Respondent | None = Field(default=None, description="对方当事人（个人或单位）")
    party_count: int | None = Field(default=None, ge=1, le=100000, description="申请方人数")
    amount_yuan: float | None = Field(default=None, ge=0, le=1e12, description="争议金额（元）")
    vulnerable: list[VulnerableKind] = Field(default_factory=list, max_length=4)
    emergency: bool = Field(default=False, description="应急联办：暴力正在发生、群体聚集等")
    settled_on_spot: bool = Field(default=False, description="接件即办：窗口当场化解（仅工作人员渠道）")
    settlement_note: str | None = Field(default=None, max_length=1000, description="接件即办的处理结果")
    proxy: ProxyInfo | None = Field(default=None, description="代办：代办人、与申请人关系、申请人同意方式")
    court_reference: str | None = Field(default=None, max_length=64, description="诉前委派：法院案号")
    external_reference: str | None = Field(
        default=None, max_length=64, description="12345工单号 / 110接警单号 / 信访件编号"
    )

    @field_validator("description")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if len(v.strip()) < 5:
            raise ValueError("纠纷描述太短，请至少写5个字")
        return v

    @field_validator("court_reference", "external_reference", "settlement_note")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @model_validator(mode="after")
    def _sub_item_belongs(self) -> SubmitCase:
        if self.sub_item is not None:
            if self.category is None:
                raise ValueError("填写纠纷细类时须同时选择纠纷类别")
            if self.sub_item not in SUB_ITEMS[self.category]:
                raise ValueError(f"纠纷细类“{self.sub_item}”不属于所选类别")
        return self


class ChannelRuleError(ValueError):
    """A rule of the channel was broken: (field, code, Chinese message) triples."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(m for _, _, m in errors))
        self.errors = errors


def check_channel_rules(cmd: SubmitCase) -> None:
    """Per-channel required and forbidden fields (who may use a channel is checked with the staff token)."""
    errors: list[tuple[str, str, str]] = []
    ch = cmd.channel
    if ch is Channel.PROXY and cmd.proxy is None:
        errors.append(("proxy", "missing", "代办须填写代办人、与申请人的关系和申请人同意方式"))
    if ch is not Channel.PROXY and cmd.proxy is not None:
        errors.append(("proxy", "not_allowed", "只有代办渠道可以填写代办信息"))
    if ch is Channel.COURT_REFERRAL and not cmd.court_reference:
        errors.append(("court_reference", "missing", "诉前委派须填写法院案号"))
    if ch is not Channel.COURT_REFERRAL and cmd.court_reference:
        errors.append(("court_reference", "not_allowed", "只有诉前委派可以填写法院案号"))
    if ch in (Channel.HOTLINE_12345, Channel.POLICE_110) and not cmd.external_reference:
        what = "12345工单号" if ch is Channel.HOTLINE_12345 else "110接警单号"
        errors.append(("external_reference", "missing", f"请填写{what}"))
    if ch is Channel.GRID and not cmd.location.unit_code:
        errors.append(("location.unit_code", "missing", "网格员上报须填写所在网格或社区"))
    if cmd.settled_on_spot:
        if ch not in SETTLE_ON_SPOT_CHANNELS:
            errors.append(("settled_on_spot", "not_allowed", "只有窗口接待、代办和网格员上报可以接件即办"))
        if not cmd.settlement_note:
            errors.append(("settlement_note", "missing", "接件即办须写明当场处理的结果"))
        if cmd.emergency:
            errors.append(("settled_on_spot", "conflict", "应急事件不能按接件即办当场办结"))
    if errors:
        raise ChannelRuleError(errors)


RECEIVED_TITLE = "纠纷已登记"
RECEIVED_NEXT = "平台正在评估风险并分派给负责处理的单位，分派后会通知您"
EMERGENCY_TITLE = "已启动应急联办"
EMERGENCY_DETAIL = "您反映的情况紧急，平台已通知相关单位联合处置"
EMERGENCY_NEXT = "如有人身危险请立即拨打110"
SETTLED_TITLE = "已当场化解（接件即办）"
CLOSED_TITLE = "案件已办结"
CLOSED_NEXT = "欢迎您对本次处理进行满意度评价"
REPEAT_TITLE = "再次反映已并入本案"
RATED_TITLE = "感谢您的评价"

Consent = Literal["written", "verbal_recorded", "in_person"]
