"""Conflict of interest (回避): a mediator or expert related to a party may not act on the case.

Compared on blind indexes (HMAC-SM3 of the normalised name), so no name is read in clear here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartyRef:
    party_id: str
    role: str
    name_index: str


@dataclass(frozen=True)
class Relation:
    name_index: str
    relation_zh: str  # 亲属 / 同事 / 代理人 / 雇主 …


@dataclass(frozen=True)
class PersonRef:
    name_index: str
    relations: tuple[Relation, ...] = ()
    employer_index: str | None = None


ROLE_ZH = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}


def conflicts(person: PersonRef, parties: list[PartyRef]) -> list[str]:
    """Reasons (in Chinese) why this person may not act on a case with these parties; empty if none."""
    reasons: list[str] = []
    for p in parties:
        who = ROLE_ZH.get(p.role, "当事人")
        if p.name_index == person.name_index:
            reasons.append(f"本人即为本案{who}，应当回避")
        for r in person.relations:
            if r.name_index == p.name_index:
                reasons.append(f"与本案{who}存在{r.relation_zh}关系，应当回避")
        if person.employer_index and person.employer_index == p.name_index:
            reasons.append(f"任职于本案{who}，存在利害关系，应当回避")
    return reasons
