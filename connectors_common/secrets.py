"""Secrets by value: the one filter every text that leaves a connector, or enters the
destination's journal, goes through.

Masking by key (`client_secret: ***`) misses a secret a server echoes back: a token endpoint
that quotes the form it received (`client_secret=…`), an API that echoes the request headers
(`Authorization: Basic …`, `Bearer …`), an error text that repeats either. So the values
themselves are remembered (`remember_*`) as soon as a connector knows them, in every form
they travel in, and `scrub` replaces each of them wherever it appears:

- a client secret as given, URL-encoded (a form body), JSON-escaped (a JSON body), and the
  Basic-auth value of `id:secret`, both plain and with each part form-encoded first
  (RFC 6749 §2.3.1), which is what a server echoing the `Authorization` header shows;
- every access token a connector obtains in the run (the source's tokens are registered with
  the CDK's `add_to_secrets`, which this filter reads too);
- a DSN's password, read by libpq's own parser (`dsn_password`).

Hooked at the narrowest common points: a logging filter on the root and `airbyte` loggers
(installed by the first `remember_*`), the messages of `check`, the journal's writes and the
journal CLI's printer. The CDK's own outputs (TRACE messages, its log formatter) filter with
its registry, which `remember_*` feeds as well.

Values shorter than `MIN_LENGTH` are not filtered by value: replacing a 4-letter string in
every text would blank out ordinary words. commercetools and CRM One secrets and tokens are
far longer; key-based masking still covers short ones.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from airbyte_cdk.utils import airbyte_secrets_utils

MASK = "****"
MIN_LENGTH = 8

_lock = threading.Lock()
_values: set[str] = set()
_Known = tuple[tuple[int, int, int], list[str], "re.Pattern[str] | None"]
# `known()` for one version of the two registries, and a pattern matching any of them (one
# scan in C tells whether a text holds a secret at all: most texts hold none)
_known: _Known = ((0, 0, 0), [], None)


def _forms(value: str) -> set[str]:
    """The value as it appears in text, a form body, a URL and a JSON string."""
    return {value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]}


def basic_credentials(client_id: str, client_secret: str) -> set[str]:
    """The Basic-auth values a client's credentials travel as: `id:secret` base64-encoded as
    is, and with both parts form-encoded first (RFC 6749 §2.3.1)."""
    pairs = {f"{client_id}:{client_secret}", f"{quote_plus(client_id)}:{quote_plus(client_secret)}"}
    return {base64.b64encode(pair.encode()).decode() for pair in pairs}


def remember(*values: str | None) -> None:
    """Hide these values (and their encoded forms) from every text from now on."""
    found = {form for value in values if value for form in _forms(str(value))}
    found = {form for form in found if len(form) >= MIN_LENGTH}
    with _lock:
        _values.update(found)
    # The CDK filters its own outputs (TRACE, its log formatter) with its registry, which
    # each entrypoint run replaces: every form goes there too, once per registry.
    registered = set(map(str, _cdk_registry()))
    for form in sorted(found - registered):
        airbyte_secrets_utils.add_to_secrets(form)
    install_log_filter()


def _cdk_registry() -> list[Any]:
    """The CDK's list of secrets (`add_to_secrets` appends, each entrypoint run replaces)."""
    return vars(airbyte_secrets_utils).get("__SECRETS_FROM_CONFIG") or []


def remember_client(client_id: str, client_secret: str) -> None:
    """A client's secret, and the Basic-auth forms of its credentials."""
    remember(client_secret, *basic_credentials(client_id, client_secret))


def remember_dsn(dsn: str) -> None:
    """A DSN's password, in every form the DSN may have spelled it."""
    remember(*dsn_passwords(dsn))


def dsn_parts(dsn: str) -> dict[str, str]:
    """libpq's reading of a DSN (key=value or URL), or {} when libpq cannot read it."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {key: str(value) for key, value in conninfo_to_dict(dsn).items() if value}
    except Exception:  # psycopg.ProgrammingError: its message would quote the DSN
        return {}


def dsn_passwords(dsn: str) -> set[str]:
    """The password libpq reads, and the spellings of it the DSN text holds (percent-encoded
    in a URL, quoted and backslash-escaped in key=value form)."""
    password = dsn_parts(dsn).get("password")
    found = set()
    if password:
        escaped = password.replace("\\", "\\\\").replace("'", "\\'")
        found |= {password, escaped, f"'{escaped}'"}
    if "://" in dsn:
        try:
            raw = urlsplit(dsn).password
        except ValueError:
            raw = None
        if raw:  # up to the last '@'; libpq reads up to the first, the rest becomes host
            found |= {raw, *raw.split("@")}
    return {password for password in found if password}


def describe_dsn(dsn: str) -> str:
    """What an error may say about a DSN: its host and database, never the DSN itself."""
    parts = dsn_parts(dsn)
    host = parts.get("host") or parts.get("hostaddr") or "the default host"
    host = host.rsplit("@", 1)[-1]  # an unencoded '@' in a URL password puts its tail here
    database = parts.get("dbname") or parts.get("user") or "the default database"
    return f"host {host}, database {database}"


def known() -> list[str]:
    """Every value to hide, longest first (so a secret inside another goes with it)."""
    return _current()[1]


def _current() -> _Known:
    """The cached values and pattern, rebuilt (under the lock) only when a registry grew."""
    global _known
    registered = _cdk_registry()
    version = (len(_values), id(registered), len(registered))
    if version != _known[0]:
        with _lock:
            values = _values | {str(v) for v in registered if v and len(str(v)) >= MIN_LENGTH}
            ordered = sorted(values, key=len, reverse=True)
            pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            _known = (version, ordered, pattern)
    return _known


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """The text with every remembered secret (and `extra` values) replaced by `****`."""
    _, values, pattern = _current()
    extra = [value for value in extra if value and len(value) >= 3]
    if extra:
        values = sorted({*values, *extra}, key=len, reverse=True)
    elif pattern is None or pattern.search(text) is None:
        return text
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def any_in(texts: Iterable[str]) -> bool:
    """Whether any of these texts holds a remembered secret: one scan of them all (a batch of
    journal rows, most of which hold none, is then stored as it is)."""
    pattern = _current()[2]
    return pattern is not None and pattern.search("\x00".join(texts)) is not None


def scrub_value(value: Any) -> Any:
    """A JSON value with `scrub` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_value(key): scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


def reset() -> None:
    """Forget every remembered value (a new run in the same process; tests)."""
    global _known
    with _lock:
        _values.clear()
        _known = ((-1, 0, 0), [], None)


class SecretFilter(logging.Filter):
    """A log record's message (and traceback) through `scrub`, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not known():
            return True
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_FILTER = SecretFilter()


def install_log_filter() -> None:
    """The filter on the root and `airbyte` loggers and on each of their handlers (records of
    child loggers reach the handlers without passing their parents' filters)."""
    for logger in (logging.getLogger(), logging.getLogger("airbyte")):
        for target in (logger, *logger.handlers):
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)
