"""Which addresses a provider's base URL may reach: public ones, and others only when the
server's operator allows them.

A provider's key is sent to its base URL and the server makes the request, so a team admin
choosing the URL chooses where this server connects: the host's own services (loopback,
`0.0.0.0`), the private network, link-local and cloud-metadata addresses must not be
reachable that way. They are refused by default, at save time and again at connection time
(`resolve_for_connect`, used by the gateway's HTTP transport): the address checked is the
address connected to, so a name that resolves elsewhere later (DNS rebinding) gains nothing.

The operator opens exceptions with settings (environment variables):
- `PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS=1`: loopback and private addresses are allowed.
- `PROMPTYARD_PROVIDER_URL_ALLOWLIST`: comma-separated hosts or networks, each with an
  optional port: `127.0.0.1:8765` (what `make run` sets for demo-echo), `10.0.0.0/8`,
  `[::1]:8080`, `llm.internal`, `localhost:11434`.
Cloud-metadata addresses are refused whatever the settings say.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

METADATA_HOSTS = {
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
}
# Names that mean this machine whatever a resolver says.
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

METADATA = "cloud-metadata"
LOOPBACK = "loopback"
PRIVATE = "private"
LINK_LOCAL = "link-local"
UNSPECIFIED = "unspecified"
RESERVED = "reserved"
# What PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS opens; the rest only an allowlist entry opens.
PRIVATE_KINDS = {LOOPBACK, PRIVATE}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeBaseURL(ValueError):
    pass


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64, IPv4-compatible)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_kind(address: Address) -> str | None:
    """Why an address is refused by default (METADATA, LOOPBACK, ...), or None if public."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return address_kind(inner)
    if address in METADATA_ADDRESSES:
        return METADATA
    if address.is_unspecified:
        return UNSPECIFIED
    if address.is_loopback:
        return LOOPBACK
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_multicast or address.is_reserved:
        return RESERVED
    if (
        address.is_private
        or not address.is_global
        or (isinstance(address, ipaddress.IPv6Address) and address.teredo)
    ):
        return PRIVATE
    return None


@dataclass(frozen=True)
class _Rule:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host: str | None
    port: int | None


def _parse_rule(entry: str) -> _Rule:
    entry = entry.strip().lower()
    port = None
    if entry.startswith("["):  # [v6] or [v6]:port
        host, _, rest = entry[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
        return _Rule(ipaddress.ip_network(host, strict=False), None, port)
    try:
        return _Rule(ipaddress.ip_network(entry, strict=False), None, None)
    except ValueError:
        pass
    host = entry
    if entry.count(":") == 1:
        host, port_text = entry.split(":")
        port = int(port_text)
    try:
        return _Rule(ipaddress.ip_network(host, strict=False), None, port)
    except ValueError:
        return _Rule(None, host.rstrip("."), port)


def _allow_rules() -> list[_Rule]:
    entries = getattr(settings, "PROMPTYARD_PROVIDER_URL_ALLOWLIST", ()) or ()
    if isinstance(entries, str):
        entries = entries.split(",")
    rules = []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            rules.append(_parse_rule(entry))
        except ValueError:
            logger.warning("PROMPTYARD_PROVIDER_URL_ALLOWLIST: ignoring %r", entry)
    return rules


def _allowed(address: Address, kind: str, host: str, port: int) -> bool:
    if kind == METADATA:
        return False
    if kind in PRIVATE_KINDS and getattr(settings, "PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS", False):
        return True
    inner = _embedded_ipv4(address)
    for rule in _allow_rules():
        if rule.port is not None and rule.port != port:
            continue
        if rule.host is not None and rule.host == host:
            return True
        if rule.network is not None and any(
            a is not None and a.version == rule.network.version and a in rule.network
            for a in (address, inner)
        ):
            return True
    return False


def refusal(address: Address, host: str, port: int) -> str | None:
    """The kind of address (LOOPBACK, ...) when this address may not be reached, else None."""
    kind = address_kind(address)
    if kind is None or _allowed(address, kind, host, port):
        return None
    return kind


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (numeric forms such as 2130706433 or 0x7f.1 included:
    the resolver reads them the way a connection would)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for info in infos:
        address = _literal(str(info[4][0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses


def _refused_message(kind: str, address: Address) -> str:
    if kind in (METADATA, LINK_LOCAL):
        return "This URL points at a link-local or cloud-metadata address, which is not allowed."
    return (
        f"This URL points at a {kind} address ({address}). Providers may reach public "
        "addresses only, unless the server's operator allows this one "
        "(PROMPTYARD_PROVIDER_URL_ALLOWLIST)."
    )


def _port(parts) -> int:
    try:
        port = parts.port
    except ValueError:
        raise UnsafeBaseURL("The URL's port is not a number between 0 and 65535.") from None
    return port or (443 if parts.scheme == "https" else 80)


def check_base_url(url: str, *, resolve: bool = True) -> str:
    """Return the normalised URL or raise UnsafeBaseURL with a message for the user.

    Host names are resolved and every address is checked; a name that does not resolve
    now is accepted (it reaches nothing) and checked again at every connection.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeBaseURL("Enter an http:// or https:// URL, e.g. https://api.openai.com/v1.")
    if parts.username or parts.password:
        raise UnsafeBaseURL("Put the API key in the key field, not in the URL.")
    host = parts.hostname.rstrip(".").lower()
    port = _port(parts)
    if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
        raise UnsafeBaseURL("Cloud metadata addresses are not allowed as a provider URL.")
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    elif host in LOCAL_NAMES or host.endswith(".localhost"):
        addresses = [ipaddress.ip_address("127.0.0.1")]
    elif resolve:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError):
            addresses = []
    else:
        addresses = []
    for address in addresses:
        kind = refusal(address, host, port)
        if kind is not None:
            raise UnsafeBaseURL(_refused_message(kind, address))
    return url.rstrip("/")


def resolve_for_connect(host: str, port: int) -> list[str]:
    """The addresses to connect to for `host`: resolved once here and checked, so the
    connection goes to an address that was checked. Raises UnsafeBaseURL (with the detail
    for the server log) when any of them is refused or none resolves."""
    host = host.strip("[]").rstrip(".").lower()
    if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
        raise UnsafeBaseURL(f"{host} is a cloud-metadata name")
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeBaseURL(f"{host} does not resolve: {exc}") from None
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        addresses = [a for a in addresses if a.is_loopback] or [ipaddress.ip_address("127.0.0.1")]
    if not addresses:
        raise UnsafeBaseURL(f"{host} resolves to no address")
    for address in addresses:
        kind = refusal(address, host, port)
        if kind is not None:
            raise UnsafeBaseURL(f"{host}:{port} resolves to {address}, a {kind} address")
    return [str(a) for a in addresses]
