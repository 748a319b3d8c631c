"""The token request refuses redirects, against real loopback servers (no mocks): a 3xx from
the auth host must not carry the grant to wherever its Location points."""

from __future__ import annotations

import pytest

from unit_tests.security.test_redirects import Server
from unit_tests.source.conftest import run_read
from unit_tests.source.fake_api import PROJECT

STOLEN = b'{"access_token": "stolen", "expires_in": 172800, "scope": "view_customers:demo"}'


@pytest.mark.security
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_the_token_endpoint_is_refused_and_names_only_the_host(status):
    elsewhere = Server(lambda method, path: (200, {"Content-Type": "application/json"}, STOLEN))
    target = f"{elsewhere.url}/collect?secret=hunter2&k=v"
    auth = Server(lambda method, path: (status, {"Location": target}, b""))
    config = {
        "project_key": PROJECT,
        "client_id": "client-1",
        "client_secret": "secret-1",
        "api_url": auth.url,
        "auth_url": auth.url,
        "start_date": "2025-01-01",
        "retry_backoff_seconds": 0.01,
    }
    try:
        output = run_read(config, ["customers"])
    finally:
        auth.close()
        elsewhere.close()

    # Only the token endpoint is ever asked (by the row estimate, then by the read), never
    # followed to where it points.
    assert {(method, path) for method, path, _ in auth.requests} == {("POST", "/oauth/token")}
    assert elsewhere.requests == []
    assert output.records == []
    message = output.errors[0].trace.error.message
    assert f"HTTP {status}, a redirect to 127.0.0.1" in message
    everything = output.get_formatted_error_message() + "".join(
        str(m) for m in [*output.logs, *output.trace_messages]
    )
    assert "hunter2" not in everything and "collect" not in everything
