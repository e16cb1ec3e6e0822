"""Message text is data (docs/adr/0072-message-text-is-data.md): what a consumer takes from an event and puts
before a person — a link in an SMS, a unit's name in a template, a video room on the tracking page — is
checked here first.

- :class:`LinkPolicy`: a link is kept only with scheme https and a host on the operator's allow-list
  (``YIMA_LINK_HOSTS``; a host or a parent domain), or http to a loopback host in development.
- :func:`plain_field`: a free-text field for a fixed template: no control characters or line breaks, no links
  (a template that carries a link puts in its own, checked one), bounded length.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
_URL_RE = re.compile(r"(?i)(?<![a-z0-9+.-])(?:[a-z][a-z0-9+.-]{1,15}://|www\.)\S+")
_SPACE_RE = re.compile(r"\s+")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LinkPolicy:
    hosts: frozenset[str]
    loopback_http: bool = False  # development: http://127.0.0.1:… links of the local stack

    @classmethod
    def from_setting(cls, hosts: str, *, development: bool) -> LinkPolicy:
        names = frozenset(h.strip().lower().rstrip(".") for h in hosts.split(",") if h.strip())
        return cls(names, loopback_http=development)

    def allows(self, url: str | None) -> bool:
        if not url or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in url):
            return False
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            return False
        if not host or parts.username is not None or parts.password is not None:
            return False  # https://meet.yima.local@evil.example/ names evil.example
        if parts.scheme == "http":
            return self.loopback_http and _is_loopback(host)
        if parts.scheme != "https":
            return False
        return (_is_loopback(host) and self.loopback_http) or any(
            host == h or host.endswith("." + h) for h in self.hosts)

    def keep(self, url: str | None) -> str | None:
        """``url`` if allowed, else None (the link is left out; the rest of the message goes)."""
        return url if self.allows(url) else None


def plain_field(text: str | None, limit: int = 200) -> str:
    """A free-text field as a template may print it: one line, no control characters, no links, at most
    ``limit`` characters (an ellipsis marks a cut)."""
    if not text:
        return ""
    cleaned = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    cleaned = _URL_RE.sub("", cleaned)
    cleaned = _SPACE_RE.sub(" ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
