"""Issue #17, finding 1: credentials a server echoes are never kept nor shown.

Hostile loopback servers echo the token form, the request headers and the bearer token in
their bodies and error texts; every output of both connectors' `check`, `read` and `write`
(messages, TRACE, logs), every journal table and the journal CLI's output are grepped for the
client secret, both Basic-auth encodings of the credentials and every token of the run."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file, read
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal.cli import main as journal_cli
from integration_tests.destination.airbyte_input import (
    catalog,
    customer,
    record_message,
    state_message,
)
from sandbox.crmone import CrmOneSandbox
from source_commercetools import SourceCommercetools
from unit_tests.security.conftest import Destination
from unit_tests.security.echo_servers import EchoingProxy, JsonServer, echo

pytestmark = pytest.mark.security

PROJECT = "echo-project"
CLIENT_ID = "echo client+1"  # form-encodes differently from as-is: both Basic forms differ
SECRET = "Secret/Echoed+By Server=0123456789"  # form-encodes differently
TOKEN = "Token-Echoed-Bearer-9876543210abcdef"


def forbidden(client_id: str = CLIENT_ID, secret: str = SECRET) -> list[str]:
    """The secret as given and as a form, a URL and JSON carry it; both Basic forms."""
    forms = [secret, quote_plus(secret), quote(secret, safe=""), json.dumps(secret)[1:-1]]
    return [*forms, *secrets.basic_credentials(client_id, secret)]


def leaks(texts: dict[str, str], values: list[str]) -> dict[str, list[str]]:
    return {
        name: [value for value in values if value in text]
        for name, text in texts.items()
        if any(value in text for value in values)
    }


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    secrets.reset()
    yield
    secrets.reset()


# --- the source -------------------------------------------------------------------------


class CommercetoolsEcho:
    """A commercetools imitation that echoes credentials: the token endpoint refuses (or
    grants) quoting the Authorization header and form; the API refuses quoting the bearer."""

    def __init__(self, grant: bool) -> None:
        self.grant = grant
        self.server = JsonServer(self.answer)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes):
        said = f"{headers.get('Authorization')} {body.decode()}"
        if path == "/oauth/token":
            if not self.grant:
                return 401, {"error": "invalid_client", "error_description": f"refused {said}"}
            scope = parse_qs(body.decode()).get("scope", [f"view_customers:{PROJECT}"])[0]
            return 200, {"access_token": TOKEN, "expires_in": 172800, "scope": scope}
        return 403, {"statusCode": 403, "message": f"denied {said}", "echo": echo(headers, body)}

    def config(self) -> dict:
        return {
            "project_key": PROJECT,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "api_url": self.server.url,
            "auth_url": self.server.url,
            "retry_backoff_seconds": 0.01,
        }


def everything(output: EntrypointOutput, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Every message the command printed (TRACE of an uncaught error included) and every log
    record as logged."""
    return {
        "messages": "\n".join(
            json.dumps(AirbyteMessageSerializer.dump(m)) for m in output._messages or []
        ),
        "logs": "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records),
    }


@pytest.mark.parametrize("grant", [False, True], ids=["token-refused", "api-refused"])
def test_source_check_shows_no_echoed_credential(
    grant: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = CommercetoolsEcho(grant)
    try:
        with caplog.at_level(logging.DEBUG):
            config = make_file(tmp_path / "config.json", api.config())
            output = _run_command(SourceCommercetools(), ["check", "--config", str(config)])
    finally:
        api.server.close()
    (status,) = output.connection_status_messages
    message = status.connectionStatus.message
    assert status.connectionStatus.status.name == "FAILED"
    assert ("HTTP 403" in message or "denied" in message) if grant else "client_secret" in message
    assert leaks(everything(output, caplog), [*forbidden(), TOKEN]) == {}
    assert len(message) < 600  # the status and a short excerpt, not the echoed page


def test_source_read_shows_no_echoed_bearer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = CommercetoolsEcho(grant=True)
    catalog = CatalogBuilder().with_stream("customers", SyncMode.full_refresh).build()
    try:
        with caplog.at_level(logging.DEBUG):
            output = read(SourceCommercetools(), api.config(), catalog, expecting_exception=True)
    finally:
        api.server.close()
    texts = everything(output, caplog)
    assert "denied" in "".join(texts.values())  # the server's words did arrive
    assert leaks(texts, [*forbidden(), TOKEN]) == {}


# --- the destination --------------------------------------------------------------------


@pytest.fixture
def echoing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Destination]:
    """The destination against the CRM One sandbox behind a proxy echoing every request."""
    with CrmOneSandbox(
        client_id=CLIENT_ID, client_secret=SECRET, requests_per_second=10_000
    ) as sandbox:
        proxy = EchoingProxy(sandbox.url)
        try:
            yield Destination(
                sandbox, str(tmp_path / "journal.db"), {"base_url": proxy.url}, caplog
            )
        finally:
            proxy.close()


def test_destination_write_keeps_no_echoed_secret_or_token(
    echoing: Destination, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [record_message("customers", customer(n)) for n in range(3)]
    output = echoing.write([*messages, state_message("customers", 3)])
    texts = {"messages": "\n".join(str(m) for m in output), "logs": echoing.logged()}
    texts |= echoing.journal_text()
    assert "echo" in texts["sync_log"]  # the echoed form and headers did reach the journal
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(echoing.sandbox.destination_config(echoing.journal_path, **echoing.overrides))
    )
    capsys.readouterr()
    assert journal_cli(["--config", str(config), "calls", "--json", "--limit", "500"]) == 0
    assert journal_cli(["--config", str(config), "calls"]) == 0
    texts["journal calls"] = capsys.readouterr().out
    bearers = [value.removeprefix("Bearer ") for value in echoing_proxy_bearers(texts)]
    assert leaks(texts, forbidden()) == {}
    assert bearers == []


def echoing_proxy_bearers(texts: dict[str, str]) -> list[str]:
    """Any `Bearer <token>` left in the texts (a filtered one reads `Bearer ****`)."""
    found = re.findall(r"Bearer [A-Za-z0-9._~+/=-]+", "\n".join(texts.values()))
    return [value for value in found if value != "Bearer "]


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[dict]:
    """A destination config whose CRM One refuses the token, quoting the form it got."""

    def refuse(method: str, path: str, headers: dict[str, str], body: bytes):
        return 403, {"error": "forbidden", "error_description": f"refused {body.decode()}"}

    server = JsonServer(refuse)
    yield {
        "base_url": server.url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "journal": {"type": "sqlite", "path": str(tmp_path / "journal.db")},
    }
    server.close()


def test_destination_check_shows_no_echoed_credential(
    caplog: pytest.LogCaptureFixture, refusing: dict
) -> None:
    with caplog.at_level(logging.DEBUG):
        status = DestinationCrmOne().check(logging.getLogger("airbyte"), refusing)
    assert status.status.name == "FAILED" and "refused" in (status.message or "")
    texts = {
        "status": status.message or "",
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    assert leaks(texts, forbidden()) == {}


def test_the_filter_hides_every_form_and_dsn_password() -> None:
    secrets.remember_client(CLIENT_ID, SECRET)
    secrets.remember_dsn("host=db password='Hun\\'ter2SecretV' dbname=crm")
    text = " ".join(
        [
            SECRET,
            "client_secret=" + quote_plus(SECRET),
            json.dumps({"s": SECRET}),
            *secrets.basic_credentials(CLIENT_ID, SECRET),
            "Hun'ter2SecretV",
            "Hun\\'ter2SecretV",
        ]
    )
    shown = secrets.scrub(text)
    assert SECRET not in shown and "ter2SecretV" not in shown
    assert all(form not in shown for form in secrets.basic_credentials(CLIENT_ID, SECRET))
    record = logging.LogRecord("airbyte.x", logging.INFO, __file__, 1, "got %s", (SECRET,), None)
    secrets.SecretFilter().filter(record)
    assert record.getMessage() == "got ****"


def test_destination_write_trace_shows_no_echoed_credential(refusing: dict) -> None:
    """A token endpoint that refuses quoting the form: the write's TRACE error, as the CDK
    emits it, and the exception itself hold no form of the secret."""
    with pytest.raises(AirbyteTracedException) as raised:
        list(DestinationCrmOne().write(refusing, catalog("customers"), iter([])))
    error = raised.value
    emitted = json.dumps(AirbyteMessageSerializer.dump(error.as_sanitized_airbyte_message()))
    assert "refused grant_type" in emitted  # the echo did reach the message
    texts = {"message": f"{error.message} {error.internal_message}", "trace": emitted}
    assert leaks(texts, forbidden()) == {}


def test_a_journal_batch_is_scanned_once_and_scrubbed_only_when_it_holds_a_secret(
    tmp_path: Path,
) -> None:
    """The journal's fast path (one scan of a batch) must never let a secret through: a batch
    holding one, in any row and any spelling the filter knows, is stored masked."""
    from destination_crmone.journal import open_journal

    secrets.reset()
    secrets.remember("s3cr3t-value-long")
    assert not secrets.any_in(["ct:1", "digest-abc", "2026-01-01T00:00:00.000Z"])
    assert secrets.any_in(["ct:1", "x s3cr3t-value-long y"])
    assert secrets.any_in([quote_plus("a s3cr3t-value-long")])  # form-encoded spelling
    journal = open_journal({"type": "sqlite", "path": str(tmp_path / "j.db")}, redact_pii=False)
    try:
        for detail in ("plain", "echo s3cr3t-value-long"):
            journal.add_review("r1", "probe", "ext", None, {"detail": detail})
        stored = json.dumps(journal.query("SELECT detail FROM review"))
    finally:
        journal.close()
        secrets.reset()
    assert "s3cr3t-value-long" not in stored and "****" in stored and "plain" in stored
