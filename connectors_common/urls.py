"""The one rule for a configured service URL (API roots, auth roots, CRM One's base URL).

The URL is read with urllib3's parser, the one requests uses to connect: a rule that reads
the URL another way can be fooled (`urlparse` reads `http://evil.example\\@localhost` as host
`localhost`, requests connects to `evil.example`). Refused: a backslash, control characters or
whitespace anywhere, user info (`https://user:pass@host`; credentials have their own fields),
a query or fragment, and plain http to anything but a loopback host (localhost, 127.0.0.0/8,
::1). Messages never quote the URL: it may hold a password someone pasted into it.

Where a URL may point (`check_service_address`): never at a link-local address
(169.254.0.0/16, fe80::/10) or a cloud metadata service (169.254.169.254, fd00:ec2::254,
100.100.100.200, 168.63.129.16, metadata.google.internal) — a configured URL must not read
an instance's credentials; and, unless `allow_private_network` is true, not at a private or
otherwise non-public range (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, 0.0.0.0…).
Loopback stays allowed (local sandboxes). A literal address is checked when the config is
read, in every spelling the resolver accepts (`2852039166`, `0xa9fea9fe`, `::ffff:169.254…`);
a host name is resolved and each of its addresses checked by `check` (`check_resolved_host`):
DNS can change after that, which is why the two rules live apart.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

# Control characters (C0, DEL, C1) and every Unicode whitespace.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def is_loopback_host(host: str | None) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (with or without IPv6 brackets)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def literal_address(host: str) -> Address | None:
    """The address a host names by itself, in any form the system resolver reads as one
    (dotted, a single number, hex, octal, IPv4-mapped IPv6); None for a host name."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", host):
            return None
        try:  # inet_aton's legacy forms: 2852039166, 0xa9fea9fe, 0251.0376.0251.0376
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_problem(address: Address, allow_private_network: bool) -> str | None:
    """Why a URL may not point at this address, or None."""
    if address in METADATA_ADDRESSES:
        return "must not point at a cloud metadata service"
    if address.is_link_local:
        return "must not point at a link-local address (169.254.0.0/16, fe80::/10)"
    if address.is_loopback or address.is_global or allow_private_network:
        return None
    return (
        "points at a private or non-public address; set allow_private_network to true if "
        "the service really lives in your private network"
    )


def check_service_address(url: str, allow_private_network: bool = False) -> None:
    """`ValueError` when the URL's host is a metadata host name, or a literal address it may
    not point at (`address_problem`). Host names are checked by `check_resolved_host`."""
    host = (parse_url(url).host or "").strip("[]").rstrip(".").lower()
    if host in METADATA_HOSTS:
        raise ValueError("must not point at a cloud metadata service")
    address = literal_address(host)
    if address is not None and (problem := address_problem(address, allow_private_network)):
        raise ValueError(problem)


def check_resolved_host(url: str, allow_private_network: bool = False) -> str | None:
    """What is wrong with every address the URL's host name resolves to now, or None (also
    when it does not resolve: the connection attempt will say so)."""
    parts = parse_url(url)
    try:
        infos = socket.getaddrinfo(parts.host.strip("[]"), parts.port or 443)  # type: ignore[union-attr]
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = literal_address(str(info[4][0]))
        if address is not None and (problem := address_problem(address, allow_private_network)):
            return f"resolves to {address}, which {problem.removeprefix('must ')}"
    return None


def check_service_url(value: str) -> str:
    """The URL without surrounding blanks and trailing `/`; `ValueError` (no value quoted)."""
    url = value.strip()
    if "\\" in url:
        raise ValueError("must not contain a backslash")
    if _FORBIDDEN.search(url):
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise ValueError("is not a URL that can be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ValueError("must be an http(s) URL with a host, e.g. https://api.example.com")
    if parts.auth is not None or "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise ValueError("must not carry user info (user:password@); use the credential fields")
    if parts.query is not None or parts.fragment is not None:
        raise ValueError("must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.host):
        raise ValueError("must use https (plain http only for localhost, 127.0.0.0/8 or ::1)")
    return url.rstrip("/")


def location_host(location: str | None) -> str | None:
    """The host a redirect's `Location` names, read as requests would read it; None when it
    names none (a relative or unparsable location). Never its path or query: those may carry
    secrets, so messages name the host alone."""
    try:
        return parse_url(location or "").host or None
    except LocationParseError:
        return None
