"""Where a webhook may go (blind SSRF, issue 14): checked when a unit admin sets the address AND when the
delivery worker sends (docs/adr/0131-webhooks-checked-at-send-time.md).

A webhook goes out only to
- an https host the operator allowed (``YIMA_NOTIFY_WEBHOOK_ALLOWED_HOSTS``: exact, or a leading dot for the
  subdomains), no credentials in the URL, port 443; or
- an address of the operator's own configuration (``YIMA_NOTIFY_UNIT_CONTACTS_JSON``), by scheme, host and port.

The send-time check catches an address set before the operator narrowed the list, one written into the database
by any other way, and a "{unit}" template that lands somewhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Origin = tuple[str, str, int | None]


def webhook_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    """https, no credentials in the URL, and a host the operator allowed (exact, or under ``.suffix``): a unit
    admin cannot make notify call into the internal network (blind SSRF)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or not host or parts.username or parts.password or port not in (None, 443):
        return False
    for allowed in (a.strip().lower().rstrip(".") for a in allowed_hosts):
        if allowed and (host == allowed.lstrip(".") if not allowed.startswith(".") else host.endswith(allowed)):
            return True
    return False


def _origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    return parts.scheme, host, port


@dataclass(frozen=True)
class WebhookPolicy:
    allowed_hosts: tuple[str, ...] = ()
    operator_origins: frozenset[Origin] = frozenset()

    @classmethod
    def from_settings(cls, allowed_hosts: Iterable[str], unit_contacts_json: str) -> WebhookPolicy:
        contacts = json.loads(unit_contacts_json) if unit_contacts_json.strip() else {}
        origins = set()
        for entry in contacts.values() if isinstance(contacts, dict) else ():
            url = entry.get("webhook_url") if isinstance(entry, dict) else None
            # "{unit}" stands for a unit code: the operator's origin is what it is with any code in the path
            if isinstance(url, str) and "{unit}" not in url.split("//", 1)[-1].split("/", 1)[0]:
                if (origin := _origin(url.replace("{unit}", "u"))) is not None:
                    origins.add(origin)
        return cls(tuple(allowed_hosts), frozenset(origins))

    def allows(self, url: str) -> bool:
        return webhook_allowed(url, self.allowed_hosts) or _origin(url) in self.operator_origins
