"""The mediation agreement (调解协议书) as data: what the signed document says. Printed by
``adapters/agreement_pdf.py``; its SHA-256 identifies the signed file for good."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

TITLES = {"people": "人民调解协议书", "administrative": "行政调解协议书", "judicial": "司法调解协议书"}


@dataclass(frozen=True)
class AgreementParty:
    role: str
    name: str
    contact_masked: str = ""


@dataclass(frozen=True)
class Confirmation:
    party_name: str
    method: str
    at: datetime


@dataclass(frozen=True)
class AgreementDoc:
    agreement_no: str
    kind: str
    unit_name: str
    case_number: str
    parties: list[AgreementParty]
    facts_zh: str
    terms: list[str]
    mediators: list[str]
    experts: list[str] = field(default_factory=list)
    confirmations: list[Confirmation] = field(default_factory=list)
    signed_at: datetime | None = None
    court_reference: str | None = None  # 诉前委派: the court's case number


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
