"""Mediation's use cases: take a unit's work orders, accept or return them (answering on ``case.feedback``
like any department system), assign mediators, invite experts, schedule and record sessions, sign the
agreement, send it for judicial confirmation, or hand the case over with its file; then close it.

One module per section (docs/adr/0100): acceptance, people (mediators, experts, rooms), invitations,
sessions, calls (在线呼叫), agreements, closing (and transfer), insurance. Every state change and the events it
promises are written in ONE transaction (the outbox); the case moves only through
:meth:`~yima_mediation.core.case.MediationCase.move`; the sections reach the database only through the
repositories of ``ports.py``.
"""

from __future__ import annotations

from ..core.states import IllegalMove
from .acceptance import Acceptance
from .agreements import Agreements
from .base import EXPERT_KINDS, InviteLocked, InviteNotFound, Refused
from .calls import Calls
from .closing import Closing
from .insurance import InsuranceClaims
from .invitations import Invitations
from .people import People
from .sessions import Sessions


class MediationService(Acceptance, People, Invitations, Sessions, Calls, Agreements, Closing):
    """Every section's use cases on one object (the HTTP adapters and the consumers call it)."""


__all__ = ["EXPERT_KINDS", "IllegalMove", "InsuranceClaims", "InviteLocked", "InviteNotFound", "MediationService",
           "Refused"]
