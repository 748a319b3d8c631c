"""A server as unkind as a broken network path: raw sockets on 127.0.0.1 only.

    stall   accept the connection, read the request, never answer
    drip    answer `200` with a JSON body announced in full, sent one byte per `interval_s`
    drip_head  send the status line, then headers one byte per `interval_s`, never ending them

Every connection is held at most `max_seconds`, and `stop()` closes them all: a test that
forgets to stop it leaves nothing running for long. Each request's first line and
`X-Correlation-ID` are kept in `requests` for tests to look at.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

Mode = Literal["stall", "drip", "drip_head"]
MODES = ("stall", "drip", "drip_head")
DRIP_BODY = b'{"access_token":"drip","expires_in":3600,"limit":1,"count":0,"results":[]}'


class StallingServer:
    def __init__(
        self,
        mode: Mode = "stall",
        *,
        interval_s: float = 1.0,
        max_seconds: float = 60.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.interval_s = interval_s
        self.max_seconds = max_seconds
        self.requests: list[tuple[str, str | None]] = []  # (request line, X-Correlation-ID)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> StallingServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="stalling-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for connection in self._connections:
                _close(connection)
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> StallingServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- connections ---------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        deadline = time.monotonic() + self.max_seconds
        try:
            self._note(_read_head(connection, deadline))
            if self.mode == "drip":
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(DRIP_BODY)}\r\n\r\n".encode()
                )
                for byte in DRIP_BODY:
                    if self._stop.wait(self.interval_s) or time.monotonic() > deadline:
                        break
                    connection.sendall(bytes([byte]))
            elif self.mode == "drip_head":
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self._stop.wait(self.interval_s) and time.monotonic() < deadline:
                    connection.sendall(b"X")  # one endless header line
            else:
                self._stop.wait(max(0.0, deadline - time.monotonic()))
        except OSError:
            return
        finally:
            _close(connection)

    def _note(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        correlation = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "x-correlation-id":
                correlation = value.strip()
        with self._lock:
            self.requests.append((lines[0], correlation))


def _read_head(connection: socket.socket, deadline: float) -> bytes:
    """The request line and headers (the body, if any, is left unread)."""
    head = b""
    connection.settimeout(0.5)
    while b"\r\n\r\n" not in head and len(head) < 65536 and time.monotonic() < deadline:
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        head += chunk
    return head.split(b"\r\n\r\n", 1)[0]


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
