"""打分排名: a transparent unit score and each unit against the targets (pure).

score = 100 × Σ wᵢ·xᵢ / Σ wᵢ over the parts below; a part with no denominator (no closed, no rated case)
counts 0 and is shown as missing. Each row lists its parts, so anyone can recompute the score.
"""

from __future__ import annotations

import json
from typing import Any

PARTS: dict[str, str] = {
    "settle_rate": "化解率（化解÷办结）",
    "on_time_rate": "按期办结率（未超期办结÷办结）",
    "satisfaction": "满意度（平均分÷5）",
    "community_share": "社区（村）化解占比（社区化解÷办结）",
}


def parse_weights(raw: str) -> dict[str, float]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"score weights are not JSON: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise ValueError("score weights must be a JSON object")
    unknown = set(data) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown score parts {sorted(unknown)}; known: {sorted(PARTS)}")
    weights = {k: float(v) for k, v in data.items()}
    if any(v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("score weights must be ≥ 0 with a positive sum")
    return weights


def parts_of(row: dict[str, Any]) -> dict[str, float | None]:
    avg = row["satisfaction"]["avg"]
    return {
        "settle_rate": row["settle_rate"]["value"],
        "on_time_rate": row["on_time_rate"]["value"],
        "satisfaction": round(avg / 5, 4) if avg is not None else None,
        "community_share": row["community_share"]["value"],
    }


def rank(rows: list[dict[str, Any]], weights: dict[str, float], target_community: float,
         target_three: float) -> list[dict[str, Any]]:
    total_w = sum(weights.values())
    out = []
    for r in rows:
        parts = parts_of(r)
        score = 100 * sum(w * (parts.get(k) or 0.0) for k, w in weights.items()) / total_w
        c, t = r["community_share"], r["three_levels_share"]
        out.append({
            "key": r["key"], "name": r["name"], "score": round(score, 2), "parts": parts,
            "received": r["received"], "closed": r["closed"],
            "targets": {
                "community": {"target": target_community, **c,
                              "met": c["value"] is not None and c["value"] >= target_community},
                "three_levels": {"target": target_three, **t,
                                 "met": t["value"] is not None and t["value"] >= target_three},
            },
        })
    out.sort(key=lambda x: (-x["score"], -x["received"], x["key"]))
    for i, x in enumerate(out, 1):
        x["rank"] = i
    return out
