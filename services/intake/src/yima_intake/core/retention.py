"""When a case's retention period starts (docs/retention.md, docs/adr/0125): at its last step in an ending state.

A case that ended and was taken up again (a step in another state after it) starts its period afresh when it ends
again. Pure: no database."""

from __future__ import annotations

from yima_contracts.codes import CaseState

# The platform's handling is over: closed (and rated, followed up), resolved by a unit's own system (which never
# sends a closing step), or transferred to arbitration, litigation or an administrative channel (the file went with
# the case).
ENDING_STATES: frozenset[str] = frozenset(s.value for s in (
    CaseState.RESOLVED, CaseState.TRANSFERRED, CaseState.CLOSED, CaseState.RATED, CaseState.FOLLOWED_UP))


def ends_case(state: str) -> bool:
    return state in ENDING_STATES
