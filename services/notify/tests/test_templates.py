import pytest
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState
from yima_notify.core.templates import render_applicant


@pytest.mark.parametrize("state", list(CaseState))
def test_every_step_renders_in_chinese_within_two_sms_segments(state: CaseState) -> None:
    e = CaseStatusChanged(case_id="c", correlation_id="c", state=state, title_zh="案件已分派",
                          acting_unit_name="黄河社区", next_step_zh="黄河社区将在受理后联系您")
    r = render_applicant(e, "JSQ-2026-000001", "ABCD-EFGH-JKMN")
    assert r.text.startswith("【一码解纠纷】") and "JSQ-2026-000001" in r.text
    assert len(r.text) <= 140
    assert r.template_id == f"applicant.{state.value}.v1"


def test_the_first_message_carries_the_tracking_code_and_later_ones_do_not() -> None:
    first = CaseStatusChanged(case_id="c", correlation_id="c", state=CaseState.SUBMITTED, title_zh="纠纷已登记")
    later = CaseStatusChanged(case_id="c", correlation_id="c", state=CaseState.ACCEPTED, title_zh="已受理")
    assert "ABCD-EFGH-JKMN" in render_applicant(first, "N", "ABCD-EFGH-JKMN").text
    assert "ABCD-EFGH-JKMN" not in render_applicant(later, "N", "ABCD-EFGH-JKMN").text
