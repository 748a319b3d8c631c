"""Bounds on every request to commercetools (API and token): time, size, and a name.

- Connect and read timeouts go to `requests` (`timeout=`); a read timeout is the longest
  silence allowed, so a server answering one byte a second never trips it. The body is
  therefore read as it arrives (`read1`) against a total deadline per request and a size cap.
- Every request carries `X-Correlation-ID`: one prefix per run plus a counter. commercetools
  logs it with the request, and support asks for it; every error message quotes it.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util import parse_url

from connectors_common import location_host

CORRELATION_HEADER = "X-Correlation-ID"
CHUNK_BYTES = 1 << 16
ERROR_BODY_BYTES = 64 << 10  # an error answer is a few hundred bytes
TOKEN_BODY_BYTES = 64 << 10  # a token answer is a few hundred bytes


class DeadlineExceeded(requests.exceptions.Timeout):
    """The answer did not arrive in full within the request's deadline."""


class BodyTooLarge(Exception):
    """The answer grew past the cap."""


@dataclass(frozen=True)
class RequestBounds:
    connect_seconds: float = 10
    read_seconds: float = 60
    deadline_seconds: float = 300

    @classmethod
    def of(cls, config: Any) -> RequestBounds:
        connect, read = config.timeouts
        return cls(connect, read, config.request_timeout_seconds)

    @property
    def timeout(self) -> tuple[float, float]:
        """What `requests` takes: (connect, read)."""
        return self.connect_seconds, self.read_seconds


class Correlation:
    """`X-Correlation-ID` values: `source-commercetools-{run}-{n}`, n counting from 1."""

    def __init__(self) -> None:
        self.prefix = f"source-commercetools-{uuid.uuid4().hex[:12]}"
        self._counter = itertools.count(1)

    def next_id(self) -> str:
        return f"{self.prefix}-{next(self._counter)}"


CORRELATION = Correlation()  # one per process, which is one per run


def correlation_id(request: Any) -> str:
    """The id a request was sent with ("none" if it had none)."""
    headers = getattr(request, "headers", None) or {}
    return headers.get(CORRELATION_HEADER, "none")


def request_host(request: Any) -> str:
    """`host[:port]` of a request's URL: never its path or query (they may carry secrets)."""
    url = getattr(request, "url", None)
    host = location_host(url)
    if not host:
        return "the server"
    port = parse_url(url).port
    return f"{host}:{port}" if port else host


def timed_out(error: Exception, attempts: int, bounds: RequestBounds) -> str:
    """`host did not answer in time, N attempts (…)`: what a timeout message says."""
    request = getattr(error, "request", None)
    return (
        f"{request_host(request)} did not answer in time, {attempts} attempts "
        f"({type(error).__name__}; connect {bounds.connect_seconds:g} s, read "
        f"{bounds.read_seconds:g} s, deadline {bounds.deadline_seconds:g} s; last "
        f"X-Correlation-ID {correlation_id(request)})"
    )


def started_at(response: requests.Response) -> float:
    """When the request was sent, on time.monotonic(): `elapsed` is sending → headers."""
    return time.monotonic() - response.elapsed.total_seconds()


def read_capped(
    response: requests.Response, cap_bytes: int, deadline_seconds: float, started: float
) -> bytes:
    """The whole (decoded) body of a streamed response, as it arrives. Raises BodyTooLarge past
    `cap_bytes` and DeadlineExceeded when `deadline_seconds` after `started` have passed."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap_bytes:
        response.close()
        raise BodyTooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if time.monotonic() - started > deadline_seconds:
            response.close()
            raise DeadlineExceeded(
                f"the answer took longer than {deadline_seconds:g} s", request=response.request
            )
        try:
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        except ReadTimeoutError as error:
            raise requests.exceptions.ReadTimeout(error, request=response.request) from None
        except ProtocolError as error:
            raise requests.exceptions.ChunkedEncodingError(error) from None
        except DecodeError as error:
            raise requests.exceptions.ContentDecodingError(error) from None
        except SSLError as error:
            raise requests.exceptions.SSLError(error) from None
        if not chunk:
            break
        size += len(chunk)
        if size > cap_bytes:
            response.close()
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def load_small_body(response: requests.Response, cap_bytes: int, deadline_seconds: float) -> None:
    """Read a streamed error answer within bounds, so `.text` and `.json()` are safe after it
    (a body past the cap is cut there)."""
    if response._content_consumed or not response.raw:  # type: ignore[attr-defined]
        return
    try:
        body = read_capped(response, cap_bytes, deadline_seconds, started_at(response))
    except BodyTooLarge:
        body = b"(an error answer larger than the cap)"
    except requests.RequestException:
        body = b""
    response._content = body  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
