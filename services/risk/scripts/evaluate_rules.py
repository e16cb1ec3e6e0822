"""Evaluate the risk rules on the labelled corpus: confusion matrix, per-level precision and recall, each rule's
firing precision, by situation; optionally write them to docs/risk-evaluation.md and retrain the second opinion.

    uv run python services/risk/scripts/evaluate_rules.py                   # dev part, with its misses (to tune)
    uv run python services/risk/scripts/evaluate_rules.py --heldout         # + each held-out part (figures only)
    uv run python services/risk/scripts/evaluate_rules.py --heldout --write # + write docs/risk-evaluation.md
    uv run python services/risk/scripts/evaluate_rules.py --train           # retrain the second opinion on dev

The held-out part is never shown text by text: it is not for tuning (docs/adr/0090-risk-rules-that-generalise.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yima_contracts.codes import RiskLevel
from yima_risk.core.evaluation import Labelled, Report, evaluate, load_corpus, load_held_parts
from yima_risk.core.rules import Assessment
from yima_risk.core.ruleset import load_rules
from yima_risk.core.second_opinion import DEFAULT_MODEL_FILE, SecondOpinion, train

HERE = Path(__file__).resolve().parent.parent
ROOT = HERE.parent.parent
CORPUS = HERE / "data" / "corpus"
DOC = ROOT / "docs" / "risk-evaluation.md"


def meets_the_bar(h: Report) -> bool:
    """Issue 17, on the held-out part: first level right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no red
    called blue."""
    return (h.accuracy >= 0.90 and h.recall(RiskLevel.YELLOW) >= 0.85 and h.recall(RiskLevel.RED) >= 0.95
            and h.red_called_blue == 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldout", action="store_true", help="also measure the held-out part (figures only)")
    ap.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    ap.add_argument("--train", action="store_true", help=f"retrain {DEFAULT_MODEL_FILE.name} on the dev part")
    args = ap.parse_args()

    rs = load_rules()
    dev, held = load_corpus(CORPUS)
    if args.train:
        DEFAULT_MODEL_FILE.write_text(train(dev).to_json(), encoding="utf-8")
        print(f"second opinion written: {DEFAULT_MODEL_FILE.name} ({DEFAULT_MODEL_FILE.stat().st_size // 1024} KiB)")
    opinion = SecondOpinion.load()

    def review(x: Labelled, a: Assessment) -> bool:
        return opinion.needs_review(x.text, a.level_by_rules)

    held_parts = load_held_parts(CORPUS)
    out = ["# Risk rules: evaluation on the labelled corpus", "",
           f"Rule set **{rs.version}**; corpus `services/risk/data/corpus`: {len(dev)} dev texts (tuned on) and "
           f"{len(held)} held-out texts in {len(held_parts)} parts (never tuned on); second opinion "
           f"`{opinion.version}` (naive Bayes, trained on the dev part). The first level is the rules' level, raised "
           "one step where the second opinion is confident and higher (as in the service). Written by "
           "`services/risk/scripts/evaluate_rules.py --heldout --write`; the method and the history of the held-out "
           "parts are in docs/adr/0090-risk-rules-that-generalise.md, 0150 and 0180.", ""]
    d = evaluate("Dev part (tuned on)", dev, rs, review, opinion.opinion)
    if args.heldout:
        out += ["## Held-out parts (never tuned on), each separately", "",
                "| part | texts | first level right | yellow recall | red recall | red called blue | rules alone: "
                "right / yellow recall / red recall / red called blue | issue 17's bar |",
                "|---|---|---|---|---|---|---|---|"]
        reports = []
        for name, xs in held_parts.items():
            h = evaluate(f"Held-out part `{name}.yaml` ({xs[0].id[0]}…)", xs, rs, review, opinion.opinion)
            r = evaluate(name, xs, rs)
            reports.append(h)
            y, red = RiskLevel.YELLOW, RiskLevel.RED
            out.append(f"| `{name}.yaml` ({xs[0].id[0]}…) | {h.n} | {h.accuracy:.1%} | {h.recall(y):.1%} "
                       f"| {h.recall(red):.1%} | {h.red_called_blue} | {r.accuracy:.1%} / {r.recall(y):.1%} / "
                       f"{r.recall(red):.1%} / {r.red_called_blue} | {'met' if meets_the_bar(h) else '**NOT met**'} |")
        out += ["", "Bar of issue 17 (first level right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no red "
                "called blue).", ""]
        for h in reports:
            out += [*h.lines(), ""]
    out += [*d.lines(), ""]
    both = evaluate("all", [x for p in (dev, held if args.heldout else []) for x in p], rs)
    scope = "dev + held-out" if args.heldout else "dev"
    out += [f"## Firing precision of each rule ({scope})", "",
            "A yellow rule fires rightly on a text labelled yellow or red, a red rule on a text labelled red.", "",
            *both.rule_lines(rs.rule_names()), "",
            f"## First level right, by situation present ({scope})", "", *both.situation_lines(), "",
            "## Dev texts the rules still get wrong", ""]
    out += [f"- `{x.id}` {x.level.value} → {a.own_level.value} ({x.category.value}): {a.reason_zh[:100]}"
            for x, a in d.misses] or ["- none"]
    print("\n".join(out))
    if args.write:
        DOC.write_text("\n".join(out) + "\n", encoding="utf-8")
        print(f"\nwritten: {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
