"""Which base URLs a provider may point at: never link-local or cloud-metadata addresses.

A provider's key is sent to its base URL, and the server makes the request: a URL aimed at
an instance-metadata service would let a team admin read the host's cloud credentials.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

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


class UnsafeBaseURL(ValueError):
    pass


def _refused_address(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in METADATA_ADDRESSES or address.is_link_local


def check_base_url(url: str, *, resolve: bool = True) -> str:
    """Return the normalised URL or raise UnsafeBaseURL with a message for the user.

    Host names are resolved and every address is checked; a name that does not resolve
    now is accepted (it reaches nothing) and checked again before each use.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeBaseURL("Enter an http:// or https:// URL, e.g. https://api.openai.com/v1.")
    if parts.username or parts.password:
        raise UnsafeBaseURL("Put the API key in the key field, not in the URL.")
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
        raise UnsafeBaseURL("Cloud metadata addresses are not allowed as a provider URL.")
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            infos = []
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
            except ValueError:
                continue
    else:
        addresses = []
    if any(_refused_address(a) for a in addresses):
        raise UnsafeBaseURL(
            "This URL points at a link-local or cloud-metadata address, which is not allowed."
        )
    return url.rstrip("/")
