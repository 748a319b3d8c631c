"""Hostile loopback servers for the secrets-by-value tests: they echo what they receive (the
token form, the request headers, the bearer token) in their bodies and error texts, as a
careless or malicious service would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

# (method, path, headers, body) → (status, headers, body) of the answer
Respond = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
# (method, path, headers, body) → (status, JSON body)
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers with
    `respond`."""

    def __init__(self, respond: Respond) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append((self.command, self.path, body))
                status, headers, payload = respond(
                    self.command, self.path, dict(self.headers), body
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonServer(LoopbackServer):
    """A loopback server answering JSON with `answer`."""

    def __init__(self, answer: Answer) -> None:
        def respond(method: str, path: str, headers: dict[str, str], body: bytes):
            status, payload = answer(method, path, headers, body)
            return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

        super().__init__(respond)


def echo(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What the server received, as an echoing server shows it."""
    return {"headers": headers, "body": body.decode("utf-8", "replace")}


class EchoingProxy(JsonServer):
    """Forwards every call to `upstream` and adds what it received to each JSON answer:
    `echo` in objects (the form of a token call, the `Authorization` header of every call)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.session = requests.Session()
        super().__init__(self.forward)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        response = self.session.request(
            method, self.upstream + path, data=body, headers=sent, allow_redirects=False
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {"text": response.text}
        if isinstance(payload, dict):
            payload["echo"] = echo(headers, body)
        return response.status_code, payload
