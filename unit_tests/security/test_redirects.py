"""Issue #11, finding 1: the destination never follows a redirect. A token endpoint (or a
batch endpoint) answering 3xx to another host must not get the client secret (or the batch)
re-sent there; the error names the Location's host only, never its query."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors_common import location_host
from destination_crmone.crmone.client import CrmOneClient, CrmOneError

pytestmark = pytest.mark.security

SECRET = "client-secret-never-elsewhere"
QUERY_SECRET = "sig=query-value-never-shown"


class Server:
    """A loopback HTTP server that records every request and answers with `answer(path)`."""

    def __init__(self, answer) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append((self.command, self.path, body))
                status, headers, payload = answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    """The host a redirect points to: it must never be called."""
    server = Server(lambda method, path: (200, {"Content-Type": "application/json"}, b"{}"))
    yield server
    server.close()


def redirecting(target: str, status: int, redirect_token: bool) -> Server:
    token = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'

    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/oauth/token" and not redirect_token:
            return 200, {"Content-Type": "application/json"}, token
        location = f"{target}{path}?{QUERY_SECRET}"
        return status, {"Location": location}, b""

    return Server(answer)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_token_request_is_an_error_and_the_secret_stays_home(
    elsewhere: Server, status: int
) -> None:
    # Plain http on a second loopback address stands in for "another host".
    target = elsewhere.url.replace("127.0.0.1", "localhost")
    crm = redirecting(target, status, redirect_token=True)
    try:
        client = CrmOneClient(crm.url, "cid", SECRET, backoff_base=0.001)
        with pytest.raises(CrmOneError) as raised:
            client.account()
    finally:
        crm.close()
    assert elsewhere.requests == []
    assert raised.value.status == status and raised.value.code == "redirect"
    assert "localhost" in str(raised.value)
    assert QUERY_SECRET not in str(raised.value) and SECRET not in str(raised.value)
    assert len(crm.requests) == 1  # not retried either


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirected_batch_is_not_re_sent(elsewhere: Server, status: int) -> None:
    crm = redirecting(elsewhere.url.replace("127.0.0.1", "localhost"), status, False)
    try:
        client = CrmOneClient(crm.url, "cid", SECRET, backoff_base=0.001)
        records = [{"external_id": "c1", "properties": {"email": "jane@example.com"}}]
        with pytest.raises(CrmOneError) as raised:
            client.upsert_contacts(records, id_property="external_id", idempotency_key="k-1")
    finally:
        crm.close()
    assert elsewhere.requests == []
    assert raised.value.code == "redirect" and QUERY_SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("https://evil.example/x?secret=1", "evil.example"),
        ("http://evil.example\\@localhost/", "evil.example"),  # the host requests would call
        ("/relative?secret=1", None),
        ("http://[bad", None),
        ("", None),
        (None, None),
    ],
)
def test_both_connectors_name_a_redirect_by_the_host_requests_would_call(location, host) -> None:
    assert location_host(location) == host
