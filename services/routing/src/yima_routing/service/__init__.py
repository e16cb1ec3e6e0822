"""Routing's use cases (the application layer), in sections: :mod:`.assigning` (facts + risk → an assignment,
dispatch, escalation), :mod:`.feedback` (the unit's answers, the end of a case), :mod:`.deadlines` (pause,
resume, 催办, the provisional calendar), :mod:`.supervising` (the chain the sweeper drives), :mod:`.joint`
(吹哨报到) and :mod:`.views` (what staff read). They talk to repositories (ports.py) only; the due-date rule
and the next supervision step are the assignment's own (core/assignment.py)."""

from __future__ import annotations

from ..core.assignment import OPEN
from .base import SYSTEM, Clock, Refused, TopicEnsurer, staff_actor
from .views import Views


class RoutingService(Views):
    """Every use case of routing (one unit of work each)."""


__all__ = ["OPEN", "SYSTEM", "Clock", "Refused", "RoutingService", "TopicEnsurer", "staff_actor"]
