"""Where a webhook may go (blind SSRF, issue 14): checked when a unit admin sets the address AND when the
delivery worker sends (docs/adr/0131-webhooks-checked-at-send-time.md).

A webhook goes out only to
- an https host the operator allowed (``YIMA_NOTIFY_WEBHOOK_ALLOWED_HOSTS``: exact, or a leading dot for the
  subdomains), no credentials in the URL, port 443; or
- an address of the operator's own configuration (``YIMA_NOTIFY_UNIT_CONTACTS_JSON``), by scheme, host and port.

The send-time check catches an address set before the operator narrowed the list, one written into the database
by any other way, and a "{unit}" template that lands somewhere else. An allowed host must moreover resolve, when
it is called, to public addresses only (or into the networks the operator listed): an allowed name pointed at
an internal address — DNS rebinding — is refused (docs/adr/0133-webhook-addresses-resolved-before-sending.md).
"""

from __future__ import annotations

import ipaddress
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The operator's networks; a malformed one is refused with the value named (no silent widening)."""
    out = []
    for cidr in (c.strip() for c in cidrs):
        if not cidr:
            continue
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"YIMA_NOTIFY_WEBHOOK_PRIVATE_NETWORKS: {cidr!r} is not a network (e.g. 10.20.0.0/16)"
                             ) from exc
    return tuple(out)


def addresses_allowed(addresses: Iterable[str], private: Iterable[Network] = ()) -> bool:
    """Every address a host resolved to is public, or inside one of the operator's ``private`` networks; no
    address at all is no answer to go by (refused)."""
    nets = tuple(private)
    seen = False
    for raw in addresses:
        try:
            ip = ipaddress.ip_address(raw.split("%", 1)[0])  # an IPv6 zone ("%eth0") is not part of the address
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        seen = True
        if not (ip.is_global or any(ip in n for n in nets if n.version == ip.version)):
            return False
    return seen


@dataclass(frozen=True)
class WebhookPolicy:
    allowed_hosts: tuple[str, ...] = ()
    operator_origins: frozenset[Origin] = frozenset()
    private_networks: tuple[Network, ...] = ()

    def host_to_resolve(self, url: str) -> str | None:
        """The host whose addresses must be checked before ``url`` is called: an allow-listed host's; None for the
        operator's own addresses (configured by the operator, e.g. the local gateway on 127.0.0.1)."""
        if _origin(url) in self.operator_origins:
            return None
        return (urlsplit(url).hostname or "").lower().rstrip(".") or None

    @classmethod
    def from_settings(cls, allowed_hosts: Iterable[str], unit_contacts_json: str,
                      private_networks: Iterable[str] = ()) -> WebhookPolicy:
        contacts = json.loads(unit_contacts_json) if unit_contacts_json.strip() else {}
        origins = set()
        for entry in contacts.values() if isinstance(contacts, dict) else ():
            url = entry.get("webhook_url") if isinstance(entry, dict) else None
            # "{unit}" stands for a unit code: the operator's origin is what it is with any code in the path
            if isinstance(url, str) and "{unit}" not in url.split("//", 1)[-1].split("/", 1)[0]:
                if (origin := _origin(url.replace("{unit}", "u"))) is not None:
                    origins.add(origin)
        return cls(tuple(allowed_hosts), frozenset(origins), networks(private_networks))

    def allows(self, url: str) -> bool:
        return webhook_allowed(url, self.allowed_hosts) or _origin(url) in self.operator_origins


@dataclass(frozen=True)
class Pinned:
    """A request to an allowed host, sent to the address that was checked (docs/adr/0185): ``url`` names the
    address, ``host_header`` and ``sni_hostname`` the host, so TLS still verifies the host's certificate."""

    url: str
    host_header: str
    sni_hostname: str


def pin(url: str, address: str) -> Pinned:
    """``url`` with its host replaced by ``address`` (an IP the resolver answered and the policy allowed): no
    second lookup between the check and the connection, so a name that answers differently the next moment
    (DNS rebinding, TTL 0) cannot turn the call inwards."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError("no host in the URL")
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    literal = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"{literal}{port}"
    return Pinned(parts._replace(netloc=netloc).geturl(), f"{host}{port}", host)
