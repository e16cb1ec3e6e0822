"""The workspace's shape (docs/adr/0001): no service imports another; contracts and kit stay domain-free."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def imported_packages(src: Path) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for py in src.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                found.setdefault(n.split(".")[0], set()).add(py.relative_to(ROOT))
    return found


def test_the_five_services_of_the_design_exist() -> None:
    assert {"intake", "routing", "risk", "mediation", "notify"} <= set(SERVICES)


def test_no_service_imports_another() -> None:
    for name in SERVICES:
        imports = imported_packages(ROOT / "services" / name / "src")
        others = {f"yima_{o}" for o in SERVICES if o != name} & set(imports)
        assert not others, f"service {name} imports {others}: {[imports[o] for o in others]}"


def test_contracts_depend_on_pydantic_only() -> None:
    imports = set(imported_packages(ROOT / "contracts" / "src"))
    third_party = {i for i in imports if not i.startswith("yima_contracts")} - {
        "__future__", "json", "re", "secrets", "sys", "unicodedata", "datetime", "typing", "uuid", "enum", "pathlib"}
    assert third_party == {"pydantic"}, third_party


def test_kit_knows_no_service() -> None:
    imports = imported_packages(ROOT / "libs" / "kit" / "src")
    assert not {f"yima_{s}" for s in SERVICES} & set(imports)
    assert "motor" not in imports


def test_nobody_uses_motor() -> None:
    for pkg in [ROOT / "contracts", ROOT / "libs", ROOT / "services", ROOT / "tools"]:
        assert "motor" not in imported_packages(pkg), f"motor imported under {pkg}"
