"""Bounds on every request to commercetools (API and token): time, size, and a name.

- Connect and read timeouts go to `requests` (`timeout=`); a read timeout is the longest
  silence allowed, so a server answering one byte a second never trips it. The body is
  therefore read as it arrives (`read1`) against a total deadline per request and a size cap,
  and while the answer's head (status line and headers) is awaited, a timer shuts the socket
  when the deadline passes (`DeadlineAdapter`, mounted on every session the source uses).
- Every request carries `X-Correlation-ID`: one prefix per run plus a counter. commercetools
  logs it with the request, and support asks for it; every error message quotes it.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
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


# --- the deadline while the answer's head is awaited ---------------------------------------

_watch = threading.local()  # .deadline: time.monotonic() by which the head must be in


class _HeadDeadline:
    """A connection whose `getresponse()` (reading the status line and headers) ends by the
    thread's deadline: a timer shuts the socket then, and the wait ends as a read timeout."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_watch, "deadline", None)
        sock = self.sock
        if deadline is None or sock is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        fired = threading.Event()

        def shut() -> None:
            fired.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), shut)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        except Exception:
            if fired.is_set():  # urllib3 reads this as a read timeout
                raise TimeoutError("no complete answer head within the deadline") from None
            raise
        finally:
            timer.cancel()


class _HTTPConnection(_HeadDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_HeadDeadline, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections stop waiting for an answer's head at the request's
    deadline (a server dripping its headers a byte at a time never trips a read timeout)."""

    def __init__(self, deadline_seconds: float, **kwargs: Any) -> None:
        self.deadline_seconds = deadline_seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        _watch.deadline = time.monotonic() + self.deadline_seconds
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _watch.deadline = None


def bound_session(session: requests.Session, bounds: RequestBounds, pool_size: int = 10) -> None:
    """Mount the deadline on every request `session` makes."""
    adapter = DeadlineAdapter(
        bounds.deadline_seconds, pool_connections=pool_size, pool_maxsize=pool_size
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def bounded_session(bounds: RequestBounds) -> requests.Session:
    session = requests.Session()
    bound_session(session, bounds)
    return session


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
