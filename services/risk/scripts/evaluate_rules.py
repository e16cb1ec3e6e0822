"""Evaluate the risk rules on the labelled corpus: confusion matrix, per-level precision and recall, each rule's
firing precision, by situation; optionally write them to docs/risk-evaluation.md and retrain the second opinion.

    uv run python services/risk/scripts/evaluate_rules.py                   # training pool, with its misses (to tune)
    uv run python services/risk/scripts/evaluate_rules.py --heldout         # + each held-out part (figures only)
    uv run python services/risk/scripts/evaluate_rules.py --heldout --write # + write docs/risk-evaluation.md
    uv run python services/risk/scripts/evaluate_rules.py --train           # retrain the second opinion on the pool
    uv run python services/risk/scripts/evaluate_rules.py --cv              # + 5-fold cross-validation on the pool
    uv run python services/risk/scripts/evaluate_rules.py --cv-logistic     # + the same for the logistic candidate

The training pool is every dev*.yaml (the dev part and the former held-out parts p…–y… and a…–c…, burned: ADR
0191–0193, 0207, 0213).
--rules FILE measures another rule file (e.g. an earlier version from git) with the same corpus and second opinion. The
held-out part is never shown text by text: it is not for tuning (docs/adr/0090-risk-rules-that-generalise.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yima_contracts.codes import RiskLevel
from yima_risk.core import logistic
from yima_risk.core.evaluation import Labelled, Report, cross_validate, evaluate, load_corpus, load_held_parts
from yima_risk.core.rules import Assessment
from yima_risk.core.ruleset import load_rules
from yima_risk.core.second_opinion import DEFAULT_MODEL_FILE, SecondOpinion, train

HERE = Path(__file__).resolve().parent.parent
ROOT = HERE.parent.parent
CORPUS = HERE / "data" / "corpus"
DOC = ROOT / "docs" / "risk-evaluation.md"
# Figures measured once and kept (the held-out part is measured again on every run; these are what it gave before
# the change it was written to judge). ADR 0191.
HISTORY = [
    "| t… (`heldout9.yaml`), before any change | 112 | 2026.12-generalise.3 + nb-765 | 84.8% | 87.8% | 96.9% | 0 | "
    "76.8% / 90.2% / 62.5% / 1 | **NOT met** |",
    "| t… (`heldout9.yaml`), after the first change; then burned (now training) | 112 | 2026.12-generalise.4 + "
    "nb-1120 | 86.6% | 92.7% | 93.8% | 0 | 79.5% / 92.7% / 65.6% / 1 | **NOT met** |",
    "| u… (`heldout10.yaml`), after the first change | 64 | 2026.12-generalise.4 + nb-1120 | 85.9% | 95.8% | 80.0% "
    "| 0 | 81.2% / 95.8% / 65.0% / 1 | **NOT met** |",
    "| u… (`heldout10.yaml`), after the second change; then burned | 64 | 2026.12-generalise.5 + nb-1232 | 90.6% | "
    "95.8% | 85.0% | 0 | 84.4% / 95.8% / 65.0% / 1 | **NOT met** |",
    "| v… (`heldout11.yaml`), after the second change | 70 | 2026.12-generalise.5 + nb-1232 | 88.6% | 92.6% | 81.8% "
    "| 0 | 80.0% / 85.2% / 63.6% / 2 | **NOT met** |",
    "| v… (`heldout11.yaml`), after the third change; then burned | 70 | 2026.12-generalise.6 + nb-1296 | 88.6% | "
    "88.9% | 86.4% | 0 | 80.0% / 85.2% / 63.6% / 2 | **NOT met** |",
    "| w… (`heldout12.yaml`), after the third change; then burned | 66 | 2026.12-generalise.6 + nb-1296 | 87.9% | "
    "96.2% | 70.0% | 0 | 77.3% / 84.6% / 50.0% / 5 | **NOT met** |",
    "| x… (`heldout13.yaml`), after the fourth change; then burned | 84 | 2026.12-generalise.7 + nb-1432 | 92.9% | "
    "93.9% | 84.6% | 0 | 83.3% / 87.9% / 61.5% / 4 | **NOT met** |",
    "| y… (`heldout14.yaml`), after the fifth change, second opinion one step only | 88 | 2026.12-generalise.8 + "
    "nb-1516 | 89.8% | 94.3% | 76.9% | 0 | 85.2% / 94.3% / 61.5% / 3 | **NOT met** |",
    "| y… (`heldout14.yaml`), blue straight to red when all but sure (ADR 0194); then burned | 88 | "
    "2026.12-generalise.8 + nb-1516 | 93.2% | 94.3% | 88.5% | 0 | 85.2% / 94.3% / 61.5% / 3 | **NOT met** |",
    "| z… (`heldout15.yaml`), after the two-step raise of ADR 0194 | 72 | 2026.12-generalise.8 + nb-1516 | 97.2% | "
    "96.2% | 95.8% | 0 | 90.3% / 92.3% / 79.2% / 1 | met |",
    "| a… (`heldout16.yaml`), after 2026.12-generalise.9 (ADR 0207); then burned | 84 | 2026.12-generalise.9 + "
    "nb-1604 | 95.2% | 96.8% | 92.9% | 1 | 89.3% / 96.8% / 75.0% / 4 | **NOT met** |",
    "| b… (`heldout17.yaml`, written by an engineer who never read the rules), after .10 and blue → yellow from 0.45 "
    "(ADR 0213); then burned | 96 | 2026.12-generalise.10 + nb-1688 | 93.8% | 90.6% | 93.8% | 0 | "
    "83.3% / 84.4% / 68.8% / 2 | **NOT met** |",
    "| c… (`heldout18.yaml`, written by an engineer who never read the rules), after b… was learnt from (ADR 0213); "
    "then burned | 90 | 2026.12-generalise.10 + nb-1784 | 90.0% | 96.7% | 90.0% | 0 | 86.7% / 93.3% / 76.7% / 1 | "
    "**NOT met** |",
]


def meets_the_bar(h: Report) -> bool:
    """Issue 17, on the held-out part: first level right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no red
    called blue."""
    return (h.accuracy >= 0.90 and h.recall(RiskLevel.YELLOW) >= 0.85 and h.recall(RiskLevel.RED) >= 0.95
            and h.red_called_blue == 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldout", action="store_true", help="also measure the held-out part (figures only)")
    ap.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    ap.add_argument("--train", action="store_true", help=f"retrain {DEFAULT_MODEL_FILE.name} on the training pool")
    ap.add_argument("--cv", action="store_true", help="5-fold cross-validation of the second opinion on the pool")
    ap.add_argument("--cv-logistic", action="store_true",
                    help="5-fold cross-validation of the logistic candidate (ADR 0210; not shipped) on the pool")
    ap.add_argument("--rules", type=Path, help="measure this rule file instead of the shipped one")
    args = ap.parse_args()

    rs = load_rules(args.rules) if args.rules else load_rules()
    dev, held = load_corpus(CORPUS)
    if args.train:
        DEFAULT_MODEL_FILE.write_text(train(dev).to_json(), encoding="utf-8")
        print(f"second opinion written: {DEFAULT_MODEL_FILE.name} ({DEFAULT_MODEL_FILE.stat().st_size // 1024} KiB)")
    opinion = SecondOpinion.load()

    def review(x: Labelled, a: Assessment) -> bool:
        return opinion.needs_review(x.text, a.level_by_rules)

    held_parts = load_held_parts(CORPUS)
    out = ["# Risk rules: evaluation on the labelled corpus", "",
           f"Rule set **{rs.version}**; corpus `services/risk/data/corpus`: {len(dev)} texts in the training pool "
           "(`dev*.yaml`: the dev part and the former held-out parts p…–y… and a…–c…, tuned on) and "
           f"{len(held)} held-out texts in {len(held_parts)} part(s) (never tuned on); second opinion "
           f"`{opinion.version}` (naive Bayes, trained on the pool). The first level is the rules' level, raised "
           "where the second opinion is confident and higher (one step; from blue straight to red where no rule "
           "fired and it is all but sure; as in the service). Written by "
           "`services/risk/scripts/evaluate_rules.py --heldout --cv --write`; the method and the history of the "
           "held-out parts are in docs/adr/0090-risk-rules-that-generalise.md, 0150, 0180, 0191–0194, 0207 and "
           "0213. Rows naming a rule set and model other than the shipped ones were measured once and are kept as "
           "measured.", ""]
    d = evaluate("Training pool (dev + former held-out parts, tuned on)", dev, rs, review, opinion.opinion)
    if args.heldout:
        out += ["## Held-out parts, each separately (rows of burned parts kept as they were measured)", "",
                "| part | texts | rules + second opinion | first level right | yellow recall | red recall | red called "
                "blue | rules alone: right / yellow recall / red recall / red called blue | issue 17's bar |",
                "|---|---|---|---|---|---|---|---|---|", *HISTORY]
        reports = []
        parts = [(f"`{name}.yaml` ({xs[0].id[0]}…)", xs) for name, xs in held_parts.items()]
        if len(parts) > 1:
            parts.append(("today's held-out parts together", held))
        for label, xs in parts:
            h = evaluate(f"Held-out part {label}", xs, rs, review, opinion.opinion)
            r = evaluate(label, xs, rs)
            if xs is not held:
                reports.append(h)
            y, red = RiskLevel.YELLOW, RiskLevel.RED
            out.append(f"| {label} | {h.n} | {rs.version} + {opinion.version} "
                       f"| {h.accuracy:.1%} | {h.recall(y):.1%} "
                       f"| {h.recall(red):.1%} | {h.red_called_blue} | {r.accuracy:.1%} / {r.recall(y):.1%} / "
                       f"{r.recall(red):.1%} / {r.red_called_blue} | {'met' if meets_the_bar(h) else '**NOT met**'} |")
        out += ["", "Bar of issue 17 (first level right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no red "
                "called blue).", ""]
        for h in reports:
            out += [*h.lines(), ""]
    out += [*d.lines(), ""]
    if args.cv:
        cv = cross_validate("Training pool, second opinion cross-validated (5 folds)", dev, rs)
        fresh = cross_validate("Former held-out parts p…–t… only, second opinion cross-validated (5 folds)", dev, rs,
                               only=lambda x: x.id[0] in "pqrst")
        out += ["## Second opinion by cross-validation on the training pool", "",
                "Each text judged with a second opinion trained on the other four fifths of the pool (the shipped "
                "model is trained on all of it). The rules were tuned on the whole pool, so the rules' share of these "
                "figures is optimistic and the second opinion's raises look worse than they are: where the rules are "
                "already right a raise can only be wrong. On texts the rules of the time had NOT been tuned on, the "
                "raises to red at 0.8 were right 24 times of 29 (p…–t… with 2026.12-generalise.3, `--rules` with that "
                "version from git) and 10 of 10 (v… and w… with .6); ADR 0191, 0192. Yellow → red from 0.7 since "
                ".9 (ADR 0207): on u… (.4), v…+w… (.6), x… (.7), y… (.8) it found 2 more reds than 0.8 for 1 "
                "more wrong red.", "", *cv.lines(), "",
                *fresh.lines(), ""]
    if args.cv_logistic:  # the candidate of ADR 0210, compared with the shipped naive Bayes; not switched on
        lr = cross_validate("Training pool, logistic candidate cross-validated (5 folds)", dev, rs,
                            trainer=lambda xs, v: logistic.train(xs, f"lr-{v}"))
        out += ["## Logistic candidate by cross-validation on the training pool (ADR 0210, not shipped)", "",
                *lr.lines(), ""]
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
