"""The JSON Schema files in contracts/schemas/ are generated from the models; this fails when they drift."""

from yima_contracts.export import SCHEMA_DIR, drift, rendered_schemas


def test_exported_schemas_match_the_models() -> None:
    stale = drift()
    assert not stale, f"regenerate with `uv run python -m yima_contracts.export`: {stale}"


def test_drift_is_detected(tmp_path) -> None:
    for name, text in rendered_schemas().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert drift(tmp_path) == []
    victim = sorted(tmp_path.glob("*.json"))[0]
    victim.write_text(victim.read_text(encoding="utf-8").replace('"title"', '"titel"', 1), encoding="utf-8")
    (tmp_path / "case.removed.v1.json").write_text("{}", encoding="utf-8")
    assert drift(tmp_path) == sorted([victim.name, "case.removed.v1.json"])
    assert SCHEMA_DIR.name == "schemas"
