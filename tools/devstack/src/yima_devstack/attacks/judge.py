"""The pure parts of the replay (``yima-dev attacks``): TOTP codes, how an answer is judged, the output line, and
the checks that need no platform (production mode, the deployment files, a body larger than the limit)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ..infra import free_port

# --- verdicts -----------------------------------------------------------------------------------------------


def totp_code(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 (SHA-1), what an authenticator app shows for ``secret_b32`` at ``at``."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(value).zfill(digits)


def secret_of(otpauth_uri: str) -> str:
    """The base32 secret of an ``otpauth://`` URI (what the admin API answers when it enrols TOTP)."""
    return parse_qs(urlsplit(otpauth_uri).query)["secret"][0]


@dataclass(frozen=True)
class Outcome:
    number: str  # the item, e.g. "1a"
    attack: str
    refused: bool | None  # None: could not be replayed here (the evidence says why)
    evidence: str

    def line(self) -> str:
        verdict = {True: "refused", False: "NOT refused", None: "not replayed"}[self.refused]
        return f"[{self.number}] {verdict:<12} {self.attack} — {self.evidence}"


def refused_statuses(status: int, refusing: tuple[int, ...] = (401, 403, 404, 409, 413, 422, 423, 429)) -> bool:
    return status in refusing


def free_of(text: str, *needles: str) -> bool:
    """True when none of ``needles`` occurs in ``text`` (a forged link, a second line)."""
    return not any(n in text for n in needles)


def lockout_verdict(answers: list[int], after: int, max_failures: int = 5) -> tuple[bool, str]:
    """A parallel burst of wrong passwords and the right one: refused when the account is locked afterwards
    and no more than ``max_failures`` wrong passwords were actually checked (the others answered 423)."""
    counts = Counter(answers)
    checked_wrong = counts.get(401, 0)
    ok = after == 423 and checked_wrong <= max_failures + 1
    return ok, f"burst answered {dict(sorted(counts.items()))}; the right password afterwards: {after}"


def throttle_verdict(answers: list[int], free: int = 5) -> tuple[bool, str]:
    """A parallel burst of wrong checks and the right one on a tracking code: refused when at most ``free``
    checks were evaluated (404 wrong, 200 right) and the rest were throttled (429)."""
    counts = Counter(answers)
    evaluated = counts.get(404, 0) + counts.get(200, 0)
    return evaluated <= free, f"burst answered {dict(sorted(counts.items()))} ({evaluated} checks evaluated)"


def around(text: str, needle: str, width: int = 70) -> str:
    at = text.find(needle)
    return text[max(0, at - 10): at + width] if at >= 0 else ""


def error_code(r: httpx.Response) -> str:
    """The refusal's code (the platform's one error shape: ``{"message", "errors": [{"field", "code", …}]}``)."""
    try:
        body: Any = r.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    return str(errors[0].get("code", "")) if isinstance(errors, list) and errors and isinstance(errors[0], dict) \
        else ""


def admin_role() -> Any:
    from yima_contracts.codes import StaffRole

    return StaffRole.ADMIN


def within(warning: dict[str, Any], scope: str) -> bool:
    """A warning is within a unit's scope when every unit code it names lies at or below that unit."""
    codes = [v for k, v in warning.items() if "unit" in k and isinstance(v, str) and v[:6].isdigit()]
    return all(c.startswith(scope) for c in codes)


def next_working_morning() -> datetime:
    """10:00 Beijing time on the next Tuesday–Thursday (a working day in any calendar year's plan)."""
    day = (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=1)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def production_refuses(timeout: float = 60) -> tuple[bool, str]:
    """Start routing's API in production mode on the development keys, then with keys but the seeded password;
    both must exit with a reason (no database is reachable: the check comes first)."""
    from yima_kit.keys import generate as generate_keys

    generated = generate_keys()
    base = {**os.environ, "YIMA_ENVIRONMENT": "production", "YIMA_MONGO_URL": "mongodb://127.0.0.1:1/",
            "YIMA_SECRETS_DIR": "", "YIMA_AUTH_PUBLIC_KEYS": "", "YIMA_ROUTING_AUTH_PRIVATE_KEY": ""}
    cases = {
        "dev keys": base,
        "seeded password": {**base, "YIMA_SM4_KEY_HEX": generated["sm4_key_hex"],
                            "YIMA_AUTH_PUBLIC_KEYS": generated["auth_public_keys"],
                            "YIMA_ROUTING_AUTH_PRIVATE_KEY": generated["auth_private_key"],
                            "YIMA_ROUTING_AUTH_KID": generated["auth_kid"]},
    }
    said = []
    ok = True
    for name, env in cases.items():
        try:
            p = subprocess.run([sys.executable, "-m", "yima_routing", "api", "--port", str(free_port())], env=env,
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            ok = False
            said.append(f"{name}: still running after {timeout:.0f} s")
            continue
        said_by = re.findall(r"RuntimeError: (.*production.*)", p.stderr + p.stdout)
        reason = said_by[-1].strip() if said_by else ""
        ok = ok and p.returncode != 0 and bool(reason)
        said.append(f"{name}: exit {p.returncode} «{reason[-110:]}»")
    return ok, "; ".join(said)


def deployment_files_production(repo: Path) -> tuple[bool, str]:
    compose = (repo / "docker-compose.yml").read_text()
    k8s = "\n".join(p.read_text() for p in sorted((repo / "deploy" / "k8s").glob("*.yaml")))
    found = {"docker-compose.yml": "YIMA_ENVIRONMENT: production" in compose or "YIMA_ENVIRONMENT=production"
             in compose, "deploy/k8s": re.search(r"YIMA_ENVIRONMENT\W+(value:\s*)?\"?production", k8s) is not None}
    return all(found.values()), ", ".join(f"{k}: {'production' if v else 'NOT set'}" for k, v in found.items())


def big_body(intake: str, size: int = 3_000_000, timeout: float = 10) -> tuple[bool, str]:
    """Announce 3 MB, send 64 KB, and wait: a server that limits before reading answers 413 at once."""
    u = urlsplit(intake)
    s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=timeout)
    try:
        s.sendall((f"POST /api/v1/cases HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {size}\r\n\r\n").encode() + b"{" + b" " * 65536)
        t0 = time.monotonic()
        head = s.recv(200).decode(errors="replace")
        took = time.monotonic() - t0
    except TimeoutError:
        return False, f"no answer within {timeout:.0f} s after 64 KB of an announced {size} bytes (reading on)"
    finally:
        s.close()
    status = head.split(" ")[1] if head.startswith("HTTP/") else head[:40]
    return status == "413", f"answered {status} {took:.2f} s after 64 KB of an announced {size} bytes"
