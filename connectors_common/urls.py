"""The one rule for a configured service URL (API roots, auth roots, CRM One's base URL).

The URL is read with urllib3's parser, the one requests uses to connect: a rule that reads
the URL another way can be fooled (`urlparse` reads `http://evil.example\\@localhost` as host
`localhost`, requests connects to `evil.example`). Refused: a backslash, control characters or
whitespace anywhere, user info (`https://user:pass@host`; credentials have their own fields),
a query or fragment, and plain http to anything but a loopback host (localhost, 127.0.0.0/8,
::1). Messages never quote the URL: it may hold a password someone pasted into it.
"""

from __future__ import annotations

import ipaddress
import re

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
