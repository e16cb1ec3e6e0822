"""Cases' lifecycles as the platform's Kafka messages, rendered fast for a replay of up to 1 M cases.

Each case is drawn as bench/insight_history.py's ``draw`` draws it (its units, categories, channels, levels, and
outcomes resolved / failed / transferred / still open, overdue notices, ratings, over ``years``), then told as the
events that make the consumers build the fact ``fact_of`` builds (one difference: a transferred case is closed
with ``outcome=litigation, resolved=false``, which also marks its mediation concluded, as the platform does).

Building 7 M pydantic models takes too long: each event kind is dumped once per variant (its enums and flags)
with the real contract model and sentinel values; a case's events are then those bytes with its ids, unit, path
and times put in the sentinels' places (``Renderer``; tests/bench/test_replay_events.py compares them with the
models' own dumps).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from insight_history import draw, tree

# sentinels: a string, a UnitCode, a UUID or a datetime each dumps as one quoted token found nowhere else
_S = {"C": "ZqCASEqZ", "N": "ZqNUMqZ", "A": "ZqASGqZ", "U": "ZqUNITqZ", "S": "ZqSUPqZ", "P": "ZqPATHqZ",
      "L": "ZqLOCqZ"}
_E = UUID("00000000-0000-4000-8000-00000000e1d0")
_T = {"O": datetime(2001, 1, 1, 0, 0, 1, tzinfo=UTC), "D": datetime(2001, 1, 1, 0, 0, 2, tzinfo=UTC),
      "X": datetime(2001, 1, 1, 0, 0, 3, tzinfo=UTC)}
H = timedelta(hours=1)


def _models() -> dict[str, Any]:
    from yima_contracts import (
        CaseAssigned,
        CaseClosed,
        CaseFeedback,
        CaseRated,
        CaseRiskAssessed,
        CaseSubmitted,
        SupervisionNotice,
        UnitCaseAssigned,
    )
    return {m.__name__: m for m in (CaseSubmitted, CaseRiskAssessed, CaseAssigned, UnitCaseAssigned, CaseFeedback,
                                    CaseClosed, SupervisionNotice, CaseRated)}


def event_fields(kind: str, variant: tuple[Any, ...], v: dict[str, Any]) -> dict[str, Any]:
    """The model's fields of one event of ``kind``: ``variant`` its enums and flags, ``v`` the case's values
    (sentinels when a template is made, real values when a test builds the model to compare)."""
    from yima_contracts import Party
    from yima_contracts.codes import FeedbackKind, Outcome, SupervisionStep
    from yima_contracts.events import Location

    c = {"event_id": v["E"], "case_id": v["C"], "correlation_id": v["C"], "occurred_at": v["O"]}
    if kind == "CaseSubmitted":
        channel, category = variant
        return {**c, "case_number": v["N"], "tracking_code": "ABCD-EFGH-JKLM", "channel": channel,
                "category": category, "category_source": "applicant", "description": "邻里纠纷，请求调解",
                "applicant": Party(name="张三", phone="13812345678"), "location": Location(unit_code=v["L"]),
                "submitted_at": v["X"]}
    if kind == "CaseRiskAssessed":
        return {**c, "level": variant[0], "score": 1, "ruleset_version": "b1", "reason_zh": "规则评估"}
    if kind == "CaseRated":
        return {**c, "score": variant[0], "rated_at": v["X"]}
    common = {"assignment_id": v["A"], "unit_code": v["U"]}
    sup = {"supervisor_unit_code": v["S"], "supervisor_unit_name": "街道", "due_at": v["D"]}
    if kind == "CaseAssigned":
        category, level = variant
        return {**c, **common, **sup, "unit_name": "社区", "category": category, "risk_level": level,
                "rule_id": "r1", "reason_zh": "属地", "unit_path": v["P"]}
    if kind == "UnitCaseAssigned":
        channel, category, level, in_platform = variant
        return {**c, **common, **sup, "unit_name": "社区", "unit_path": v["P"], "in_platform": in_platform,
                "case_number": v["N"], "channel": channel, "category": category, "risk_level": level,
                "description": "邻里纠纷，请求调解", "applicant": Party(name="张三", phone="13812345678"),
                "location": Location(unit_code=v["L"])}
    if kind == "CaseFeedback":
        failed = variant[0]
        return {**c, **common, "kind": FeedbackKind.FAILED if failed else FeedbackKind.ACCEPTED,
                "reason": "调解不成" if failed else None}
    if kind == "CaseClosed":
        resolved = variant[0]
        return {**c, "unit_code": v["U"], "outcome": Outcome.AGREEMENT if resolved else Outcome.LITIGATION,
                "resolved": resolved, "applicant_message_zh": "已办结"}
    if kind == "SupervisionNotice":
        return {**c, **common, "supervisor_unit_code": v["S"], "due_at": v["D"], "step": SupervisionStep.NOTICE,
                "message_zh": "已超期，请尽快办理"}
    raise ValueError(kind)


class Renderer:
    """Templates made once per (event kind, variant) with the contract models; ``render`` fills them."""

    def __init__(self) -> None:
        self.models = _models()
        self._t: dict[tuple[str, tuple[Any, ...]], tuple[list[tuple[bytes, str]], bytes, str]] = {}
        quoted = {f'"{s}"': k for k, s in _S.items()}
        quoted[f'"{_E}"'] = "E"
        for k, t in _T.items():
            quoted[f'"{t.isoformat().replace("+00:00", "Z")}"'] = k
        self._slot = {s.encode(): k for s, k in quoted.items()}
        self._re = re.compile("|".join(re.escape(s) for s in quoted).encode())

    def template(self, kind: str, variant: tuple[Any, ...]) -> tuple[list[tuple[bytes, str]], bytes, str]:
        t = self._t.get((kind, variant))
        if t is None:
            v: dict[str, Any] = {**_S, "E": _E, **_T, "P": [_S["P"]]}
            e = self.models[kind](**event_fields(kind, variant, v))
            raw = e.model_dump_json().encode()
            parts: list[tuple[bytes, str]] = []
            pos = 0
            for m in self._re.finditer(raw):
                parts.append((raw[pos:m.start()], self._slot[m.group()]))
                pos = m.end()
            t = self._t[(kind, variant)] = (parts, raw[pos:], e.event_type)
        return t

    def render(self, kind: str, variant: tuple[Any, ...], vals: dict[str, bytes]) -> tuple[str, bytes]:
        parts, tail, event_type = self.template(kind, variant)
        out = []
        for lit, slot in parts:
            out.append(lit)
            out.append(vals[slot])
        out.append(tail)
        return event_type, b"".join(out)


def q(s: str) -> bytes:
    return b'"' + s.encode() + b'"'


def ts(at: datetime) -> bytes:
    return b'"' + at.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + b'"'


def case_events(i: int, day: date, d: tuple[Any, ...], run: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """A drawn case as its events: (kind, variant, real values) in the order the platform emits them."""
    from yima_contracts.codes import Category, Channel, RiskLevel

    path, minute, channel, category, level, rest = d
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(minutes=minute)
    ch, cat, lv = Channel(channel), Category(category), RiskLevel(level)
    cid = f"{run}{i:08d}"
    base = {"C": cid, "N": f"JSQ-{day.year}-{i:07d}", "L": path[-1] if path else "410105001001"}
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("CaseSubmitted", (ch, cat), {**base, "O": at, "X": at}),
        ("CaseRiskAssessed", (lv,), {**base, "O": at + timedelta(minutes=1)})]
    if rest is None:  # never assigned: counted as pending
        return out
    in_platform, accepted, outcome, _overdue, notices, rating = rest  # overdue: notices > 0
    due = at + timedelta(days=10)
    asg = {**base, "A": f"a-{cid}", "U": path[-1], "S": path[-2] if len(path) > 1 else path[0], "P": list(path),
           "D": due, "O": at + timedelta(minutes=2)}
    out += [("CaseAssigned", (cat, lv), asg), ("UnitCaseAssigned", (ch, cat, lv, in_platform), asg)]
    if accepted:
        out.append(("CaseFeedback", (False,), {**asg, "O": at + 2 * H}))
    for k in range(notices):  # 督办 past the deadline: overdue, one notice each
        out.append(("SupervisionNotice", (), {**asg, "O": due + (k + 1) * 24 * H}))
    if outcome == 1:
        out.append(("CaseFeedback", (True,), {**asg, "O": at + 48 * H}))
    elif outcome in (0, 2):
        out.append(("CaseClosed", (outcome == 0,), {**asg, "O": at + 48 * H}))
    if rating is not None:
        out.append(("CaseRated", (rating,), {**base, "O": at + 72 * H, "X": at + 72 * H}))
    return out


def real_values(v: dict[str, Any], event_id: UUID) -> dict[str, Any]:
    """The values a model is built with (the test's side)."""
    return {**v, "E": event_id}


def encoded(v: dict[str, Any], event_id: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {"E": q(event_id)}
    for k, x in v.items():
        if isinstance(x, datetime):
            out[k] = ts(x)
        elif isinstance(x, list):
            out[k] = b",".join(q(s) for s in x)
        else:
            out[k] = q(x)
    return out


def days_of(years: int, today: date | None = None) -> tuple[date, int]:
    """The history's span: from the first of this month ``years`` × 365 days back up to today."""
    today = today or date.today()
    start = today.replace(day=1) - timedelta(days=365 * years)
    return start, (today - start).days


def cases(lo: int, hi: int, n: int, years: int, seed: int, run: str, renderer: Renderer
          ) -> Iterator[list[tuple[str, str, bytes, str]]]:
    """Cases lo..hi-1 of n (spread evenly over the days, as the history's), one list of messages a case:
    (event type, case id, value, event id)."""
    start, days = days_of(years)
    rng = random.Random(seed * 1_000_003 + lo)
    paths = tree()
    eid = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-8"
    for i in range(lo, hi):
        day = start + timedelta(days=i * days // n)
        msgs = []
        for j, (kind, variant, v) in enumerate(case_events(i, day, draw(rng, paths), run)):
            event_id = f"{eid}{j:03x}-{i:012x}"
            et, raw = renderer.render(kind, variant, encoded(v, event_id))
            msgs.append((et, v["C"], raw, event_id))
        yield msgs
