"""The generated demo district and the directory's pure queries."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from yima_contracts.codes import Category, StaffRole, UnitKind
from yima_routing.config import RoutingSettings
from yima_routing.core.directory import Directory

S = RoutingSettings()
D = Directory.load(S.directory_file)
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "generate_directory.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_directory", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_checked_in_directory_is_what_the_generator_produces() -> None:
    gen = _generator()
    assert gen.render() == gen.render()  # deterministic
    assert S.directory_file.read_text(encoding="utf-8") == gen.render(), "run scripts/generate_directory.py"


def test_the_demo_district_has_the_seeds_scale() -> None:
    kinds = Counter(u.kind for u in D.units.values())
    assert kinds[UnitKind.STREET] == 17
    assert kinds[UnitKind.COMMUNITY] == 214
    communities = [u for u in D.units.values() if u.kind is UnitKind.COMMUNITY]
    for c in communities:
        grids = [g for g in D.descendants(c.code) if D.units[g].kind is UnitKind.GRID]
        assert len(grids) >= 3, c.code
        assert c.jurisdiction, c.code
    assert len({u.name for u in D.units.values()}) == len(D.units)  # names are unambiguous


def test_committees_studios_special_grids_court_centre_and_docking_points() -> None:
    for cat in (Category.LABOUR_WAGES, Category.MEDICAL, Category.PROPERTY_MANAGEMENT, Category.MARRIAGE_FAMILY,
                Category.ROAD_TRAFFIC):
        assert D.committee_for(cat) is not None, cat
    assert D.committee_for(Category.LABOUR_WAGES).code == "JSQ-LDTJ"
    sub = Counter(u.subkind for u in D.units.values())
    assert sub["studio"] >= 3 and sub["special"] >= 3
    docking = {u.docking for u in D.units.values() if u.subkind == "docking"}
    assert docking == {"court", "procuratorate", "police", "petition", "notary", "arbitration"}
    assert D.units["JSQ-FYSD"].kind is UnitKind.COURT_CENTRE
    assert any(u.kind is UnitKind.DEPARTMENT and Category.LABOUR_WAGES in u.fields for u in D.units.values())


def test_every_unit_has_named_staff_with_roles() -> None:
    for u in D.units.values():
        assert D.staff_of(u.code), u.code
    for s in D.units.values():
        if s.kind is UnitKind.STREET:
            roles = {x.role for x in D.staff_of(s.code)}
            assert {StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.LEADER} <= roles
    assert any("·" in s.name for s in D.staff.values())  # names with a middle dot are real names too


def test_jurisdiction_paths_and_escalation() -> None:
    assert D.unit_path("410105001001G01") == ("410105", "410105001", "410105001001", "410105001001G01")
    assert D.locate("金水区黄河路11号院3号楼").code == "410105001001"
    assert D.locate("不知道在哪里") is None
    assert D.escalation_target("410105001001", "410105").code == "410105001"
    assert D.escalation_target("410105001", "410105").code == "410105"
    assert D.escalation_target("JSQ-LDTJ", "410105").code == "410105"
    assert D.escalation_target("410105", "410105") is None
    leader = D.leader_for("410105001001", "case-1")
    assert leader is not None and leader.unit == "410105001" and leader.role is StaffRole.LEADER
