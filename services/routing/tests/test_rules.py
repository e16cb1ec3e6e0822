
import pytest
from yima_contracts.codes import Category, Channel, RiskLevel
from yima_routing.config import RoutingSettings
from yima_routing.core.directory import Directory
from yima_routing.core.rules import CaseFacts, RuleSet, decide

S = RoutingSettings()
DIRECTORY = Directory.load(S.directory_file)
RULES = RuleSet.load(S.rules_file)
HUANGHE = "410105001001"


def route(channel="self_service", category="neighbour", risk="blue", loc=HUANGHE):
    return decide(CaseFacts(Channel(channel), Category(category), RiskLevel(risk), loc), RULES, DIRECTORY)


def test_small_matter_stays_in_the_community_and_the_street_supervises() -> None:
    d = route()
    assert (d.unit.code, d.supervisor.code, d.rule_id) == (HUANGHE, "410105001", "community_of_location")


def test_a_grid_location_resolves_to_its_community() -> None:
    assert route(loc="410105001001G01").unit.code == HUANGHE


def test_wage_dispute_goes_to_the_labour_committee() -> None:
    d = route(category="labour_wages")
    assert d.unit.code == "JSQ-LDTJ" and d.supervisor.code == "410105"


def test_red_case_goes_to_the_street() -> None:
    d = route(risk="red")
    assert d.unit.code == "410105001" and d.working_days == 3


def test_court_referral_goes_to_the_committee_of_its_field_or_the_town_and_the_court_supervises() -> None:
    """诉前委派 (Jiyuan): the court delegates to the mediation organisation of the dispute's field or place and
    follows it — its centre supervises, so it hears the outcome and may redirect the case."""
    medical = route(channel="court_referral", category="medical")
    assert medical.unit.code == DIRECTORY.committee_for(Category.MEDICAL, frozenset()).code
    assert medical.unit.code != "JSQ-FYSD" and medical.supervisor.code == "JSQ-FYSD"
    marriage = route(channel="court_referral", category="marriage_family")
    assert marriage.unit.kind.value == "committee" and marriage.supervisor.code == "JSQ-FYSD"
    neighbours = route(channel="court_referral", category="neighbour")  # no committee: the town (street) mediates
    assert (neighbours.unit.code, neighbours.supervisor.code, neighbours.rule_id) == (
        "410105001", "JSQ-FYSD", "court_referral_town")
    nowhere = route(channel="court_referral", category="contract_debt", loc=None)
    assert nowhere.unit.code == "JSQ-FYSD" and nowhere.rule_id == "court_referral"


def test_unknown_location_goes_to_the_district_centre() -> None:
    d = route(loc=None, category="other")
    assert d.unit.code == "410105" and d.rule_id == "district_dispatch"


def test_directory_rejects_unknown_parents() -> None:
    from yima_routing.core.directory import Unit

    with pytest.raises(ValueError, match="unknown parent"):
        Directory([Unit(code="x1", name="x", kind="community", parent="nope")], "v")


def test_a_group_dispute_is_a_joint_consultation_led_by_the_street() -> None:
    d = decide(CaseFacts(Channel("self_service"), Category("neighbour"), RiskLevel("yellow"), HUANGHE, 12),
               RULES, DIRECTORY)
    assert d.unit.code == "410105001" and d.rule_id == "group_dispute_to_street"
    assert [u.code for u in d.summon] == [HUANGHE]  # no committee for neighbour disputes; the community joins


def test_a_red_wage_dispute_goes_to_the_street_and_summons_the_labour_committee() -> None:
    d = route(category="labour_wages", risk="red")
    assert d.unit.code == "410105001" and [u.code for u in d.summon] == ["JSQ-LDTJ"]


def test_a_simple_matter_goes_to_one_unit() -> None:
    assert route().summon == ()


def test_units_that_returned_the_case_are_skipped() -> None:
    d = decide(CaseFacts(Channel("self_service"), Category("labour_wages"), RiskLevel("blue"), HUANGHE,
                         exclude=frozenset({"JSQ-LDTJ"})), RULES, DIRECTORY)
    assert d.unit.code != "JSQ-LDTJ"
