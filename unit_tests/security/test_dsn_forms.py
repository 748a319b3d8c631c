"""Issue #17, finding 2: a DSN is read by libpq's own parser and never echoed in an error, not
even masked: errors name its host and database. No error, in any DSN form, shows any piece of
the password."""

from __future__ import annotations

import pytest

from connectors_common import secrets
from destination_crmone.config import ConfigError, DestinationConfig
from destination_crmone.journal import JournalError, hide_password, open_journal

pytestmark = pytest.mark.security

BASE = {"base_url": "http://127.0.0.1:9", "client_id": "cid", "client_secret": "cs"}
HOST = "host=127.0.0.1 port=9 user=crm dbname=crm"
URL = "postgresql://crm:{}@127.0.0.1:9/crm"

# (DSN, pieces of the password that must never show, readable by libpq)
FORMS = [
    (URL.format("Sekr1tPassw0rd"), ["Sekr1tPassw0rd"], True),
    ("postgres://crm:Sekr1tPassw0rd@127.0.0.1:9/crm", ["Sekr1tPassw0rd"], True),
    (URL.format("Sek%40r1t%2FPass"), ["Sek@r1t/Pass", "Sek%40r1t%2FPass", "r1t"], True),
    (URL.format("with%20space%20pw"), ["with space pw", "with%20space%20pw"], True),
    (URL.format("col:on:Secret"), ["col:on:Secret", "on:Secret"], True),
    ("postgresql://crm@127.0.0.1:9/crm?password=QuerySecret99", ["QuerySecret99"], True),
    (
        "postgresql://127.0.0.1:9/crm?user=crm&password=QueryPw2x&sslmode=disable",
        ["QueryPw2x"],
        True,
    ),
    (URL.format("Sekr1tPassw0rd") + "?options=-csearch_path%3Dcrmone", ["Sekr1tPassw0rd"], True),
    ("postgresql://crm:MultiHostPw77@127.0.0.1:9,127.0.0.1:10/crm", ["MultiHostPw77"], True),
    ("postgresql://crm:Ipv6Secret55@[::1]:9/crm", ["Ipv6Secret55"], True),
    (f"{HOST} password=Sekr1tPassw0rd", ["Sekr1tPassw0rd"], True),
    ("password=FirstPw1234 host=127.0.0.1 port=9 dbname=crm user=crm", ["FirstPw1234"], True),
    (f"{HOST} password=Hunter2 SecretJtail", ["Hunter2", "SecretJtail"], False),
    (f"{HOST} password='Hun\\'ter2SecretV'", ["Hun'ter2SecretV", "ter2SecretV"], True),
    (f"{HOST} password='with spaces in it'", ["with spaces in it", "spaces in"], True),
    (f"{HOST} password = 'spaced equals'", ["spaced equals"], True),
    (f"{HOST} password='back\\\\slashPw9'", ["back\\slashPw9", "slashPw9"], True),
    (f"{HOST} password='a=b=SecretEq'", ["a=b=SecretEq", "SecretEq"], True),
    (f"{HOST}\tpassword=TabbedPw33\n", ["TabbedPw33"], True),
    (f"{HOST} password='Unterminated SecretQ", ["Unterminated", "SecretQ"], False),
    (f"{HOST} PASSWORD=UpperKeyPw4", ["UpperKeyPw4"], False),
    (f"{HOST} password=Pässwörd-Ünï", ["Pässwörd-Ünï"], True),
    ("hostaddr=127.0.0.1 port=9 dbname=crm user=crm password=HostAddrPw8", ["HostAddrPw8"], True),
    (f"{HOST} password=EndsWith= sslmode=disable", ["EndsWith="], True),
]


def assert_hidden(text: str, pieces: list[str], dsn: str) -> None:
    for piece in pieces:
        assert piece not in text, f"{piece!r} shown in {text!r}"
    assert dsn.strip() not in text


@pytest.mark.parametrize(("dsn", "pieces", "readable"), FORMS)
def test_no_dsn_error_shows_the_dsn_or_its_password(
    dsn: str, pieces: list[str], readable: bool
) -> None:
    secrets.reset()
    journal = {"type": "postgres", "dsn": dsn}
    try:
        DestinationConfig.parse_config({**BASE, "journal": journal})
    except ConfigError as error:
        assert error.fields == ("journal.dsn",)
        assert_hidden(str(error), pieces, dsn)
        assert not readable, str(error)
    else:
        assert readable
    with pytest.raises(JournalError) as raised:
        open_journal(journal)
    shown = str(raised.value)
    assert shown.startswith("journal.dsn: ")
    assert_hidden(shown, pieces, dsn)
    if readable:  # named by its host and database, never quoted
        assert "127.0.0.1" in shown or "::1" in shown
        assert "database crm" in shown
    # not even masked: no DSN text at all
    assert "port=9" not in shown and "crm@" not in shown and "***" not in shown
    assert_hidden(hide_password(dsn, dsn), pieces, dsn)  # what a message quoting it shows


def test_there_are_twenty_forms() -> None:
    assert len(FORMS) >= 20


def test_the_parsed_password_is_what_is_hidden() -> None:
    dsn = f"{HOST} password='Hun\\'ter2SecretV'"
    assert secrets.dsn_parts(dsn)["password"] == "Hun'ter2SecretV"
    assert secrets.dsn_parts(f"{HOST} password=Hunter2 SecretJtail") == {}
    assert secrets.describe_dsn(dsn) == "host 127.0.0.1, database crm"
