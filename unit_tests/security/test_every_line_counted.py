"""Issue #17, finding 5: every input line is counted. A RECORD line that cannot be decoded
(invalid UTF-8, NaN/Infinity, a number past a double, broken JSON) or is over the line cap
whatever the order of its keys (`"type"` after the first 4 KB) counts in the covering STATE's
`recordCount` and `rejectedRecordCount`, is queued with its reason, and is logged by position
and length only."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from airbyte_cdk.models import Type

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.input import CappedInput
from integration_tests.destination.airbyte_input import catalog_json, customer
from unit_tests.security.conftest import Destination
from unit_tests.security.test_input_limits import record_line, state_line

pytestmark = pytest.mark.security

PRIVATE = "Hidden.Person@count.example"
CAP = 65536


def poison(i: int, value: str) -> bytes:
    """A customers RECORD whose `score` is `value`, written as raw JSON text."""
    return record_line(customer(i, email=PRIVATE) | {"score": "@"}).replace('"@"', value).encode()


def type_last(i: int, with_stream: bool) -> bytes:
    """A RECORD over the cap whose `"type"` (and maybe `"stream"`) come after the first 4 KB."""
    data = customer(i, email=PRIVATE) | {"notes": "n" * (CAP + 100)}
    record = {"data": data, "emitted_at": 1} | ({"stream": "customers"} if with_stream else {})
    return json.dumps({"record": record, "type": "RECORD"}).encode()


LINES: list[tuple[bytes, str]] = [  # (line, code of its refusal)
    (
        record_line(customer(10, email=PRIVATE)).replace(PRIVATE, "P\xff").encode("latin-1"),
        "input_not_json",
    ),
    (poison(11, "NaN"), "input_not_json"),
    (poison(12, "-Infinity"), "input_not_json"),
    (poison(13, "1" + "0" * 400), "input_not_json"),
    (poison(14, "1e400"), "input_not_json"),
    (record_line(customer(15, email=PRIVATE))[:-30].encode(), "input_not_json"),
    (type_last(16, with_stream=False), "input_too_large"),
    (type_last(17, with_stream=True), "input_too_large"),
]


def run(destination: Destination, tmp_path: Path, raw: bytes, monkeypatch) -> list:
    config = destination.sandbox.destination_config(destination.journal_path, max_line_bytes=CAP)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog_json("customers")))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    connector = DestinationCrmOne()
    files = ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    args = connector.parse_args(["write", *files])
    with destination.caplog.at_level("INFO"):
        return list(connector.run_cmd(args))


def test_every_refused_line_kind_is_counted_in_its_state(
    destination: Destination, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        record_line(customer(1)).encode(),
        state_line(1).encode(),
        *(line for line, _ in LINES),
        record_line(customer(2)).encode(),
        state_line(2).encode(),
    ]
    output = run(destination, tmp_path, b"\n".join(lines) + b"\n", monkeypatch)
    counts = [
        (m.state.destinationStats.recordCount, m.state.destinationStats.rejectedRecordCount)
        for m in output
        if m.type == Type.STATE
    ]
    assert counts == [(1, 0), (len(LINES) + 1, len(LINES))]
    queued = destination.query("SELECT code, reason FROM retry_queue ORDER BY id")
    assert sorted(code for code, _ in queued) == sorted(code for _, code in LINES)
    for number, (line, _) in enumerate(LINES, start=3):  # each by its position and length
        length = len(line)
        assert any(f"input line {number}: {length} bytes" in reason for _, reason in queued)
        assert f"Input line {number} refused as a record: {length} bytes" in destination.logged()
    shown = destination.logged() + "\n".join(map(str, output)) + str(destination.journal_text())
    assert PRIVATE not in shown and "nnnnnnnn" not in shown


@pytest.mark.parametrize(("line", "code"), LINES)
def test_each_kind_alone_is_handed_to_the_relay(line: bytes, code: str) -> None:
    refused = []
    reader = CappedInput(io.BytesIO(line + b"\n"), max_line_bytes=CAP, on_reject=refused.append)
    assert list(reader) == []
    assert [(r.line, r.length, r.code) for r in refused] == [(1, len(line), code)]


def test_well_formed_lines_of_another_type_are_only_logged() -> None:
    refused = []
    line = json.dumps({"type": "LOG", "log": {"level": "NOPE"}}).encode()
    assert list(CappedInput(io.BytesIO(line + b"\n"), on_reject=refused.append)) == []
    assert refused == []
