"""Export the JSON Schema of every event model into ``contracts/schemas/``.

    python -m yima_contracts.export          # write the files
    python -m yima_contracts.export --check  # exit 1 if the files on disk drifted from the models

The AsyncAPI document is generated from the services' brokers by ``yima-dev asyncapi`` (tools/devstack),
because it describes who publishes and who subscribes, which only the services know.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .registry import EVENT_MODELS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def rendered_schemas() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in EVENT_MODELS:
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://yima.example/schemas/{model.EVENT_TYPE}.json"
        out[f"{model.EVENT_TYPE}.json"] = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out


def drift(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, stale, or no longer generated."""
    want = rendered_schemas()
    have = {p.name: p.read_text(encoding="utf-8") for p in schema_dir.glob("*.json")} if schema_dir.exists() else {}
    return sorted({n for n in want if have.get(n) != want[n]} | (set(have) - set(want)))


def write(schema_dir: Path = SCHEMA_DIR) -> None:
    schema_dir.mkdir(parents=True, exist_ok=True)
    want = rendered_schemas()
    for stale in set(p.name for p in schema_dir.glob("*.json")) - set(want):
        (schema_dir / stale).unlink()
    for name, text in want.items():
        (schema_dir / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        bad = drift()
        if bad:
            print("JSON Schema files drifted from the models: " + ", ".join(bad))
            print("run: uv run python -m yima_contracts.export")
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
