"""Issue #11, finding 1: the destination never follows a redirect. A token endpoint (or a
batch endpoint) answering 3xx to another host must not get the client secret (or the batch)
re-sent there; the error names the Location's host only, never its query."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors_common import location_host
from destination_crmone.crmone.client import CrmOneClient, CrmOneError
from unit_tests.security.echo_servers import LoopbackServer

pytestmark = pytest.mark.security

SECRET = "client-secret-never-elsewhere"
QUERY_SECRET = "sig=query-value-never-shown"


class Server(LoopbackServer):
    """A loopback HTTP server that records every request and answers with `answer(path)`."""

    def __init__(self, answer) -> None:
        super().__init__(lambda method, path, headers, body: answer(method, path))


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
