"""Issue #11, finding 6: poison input. The destination reads stdin within a line-size cap and
a nesting-depth cap; an over-limit or non-JSON line is reported by length and position only;
an over-limit record is queued as rejected and the run goes on. (Issue #17: so is every line
that cannot be read, see test_every_line_counted.py.)"""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from pathlib import Path

import pytest
from airbyte_cdk.models import Type

from destination_crmone.destination import DestinationCrmOne
from integration_tests.destination.airbyte_input import catalog_json, customer
from sandbox.crmone import CrmOneSandbox
from unit_tests.security.conftest import Destination

pytestmark = pytest.mark.security

SECRET_TEXT = "Private.Person@poison.example"


def record_line(data: dict) -> str:
    return json.dumps(
        {"type": "RECORD", "record": {"stream": "customers", "data": data, "emitted_at": 1}}
    )


def state_line(position: int) -> str:
    return json.dumps(
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "customers"},
                    "stream_state": {"position": position},
                },
            },
        }
    )


def deep_record_line(i: int, levels: int) -> str:
    """A customer whose `custom` nests `levels` deep (built as text: json cannot)."""
    nested = '{"nested": ' * levels + json.dumps({"email": SECRET_TEXT}) + "}" * levels
    return record_line(customer(i) | {"custom": "@"}).replace('"@"', nested)


def run_write(
    destination: Destination, tmp_path: Path, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> list:
    config = destination.sandbox.destination_config(destination.journal_path, max_line_bytes=65536)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog_json("customers")))
    stdin = io.TextIOWrapper(io.BytesIO("\n".join(lines).encode() + b"\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    connector = DestinationCrmOne()
    args = connector.parse_args(
        [
            "write",
            "--config",
            str(tmp_path / "config.json"),
            "--catalog",
            str(tmp_path / "catalog.json"),
        ]
    )
    with destination.caplog.at_level("INFO"):
        return list(connector.run_cmd(args))


def test_poison_lines_are_reported_by_position_and_the_run_goes_on(
    destination: Destination,
    sandbox: CrmOneSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    huge = customer(3) | {"notes": SECRET_TEXT + "x" * 100_000}
    lines = [
        record_line(customer(1)),
        state_line(1),
        record_line({"email": SECRET_TEXT})[:-20],  # cut short: not JSON
        record_line(huge),
        deep_record_line(4, 1000),
        deep_record_line(5, 80),
        "[" * 5000,
        json.dumps({"hello": SECRET_TEXT}),
        record_line(customer(2)),
        state_line(2),
    ]
    output = run_write(destination, tmp_path, lines, monkeypatch)

    states = [m.state.stream.stream_state.position for m in output if m.type == Type.STATE]
    assert states == [1, 2]
    counts = [
        (m.state.destinationStats.recordCount, m.state.destinationStats.rejectedRecordCount)
        for m in output
        if m.type == Type.STATE
    ]
    # Issue #17: every line that cannot be read counts as a refused record, the two that name
    # no stream too (in the next state).
    assert counts == [(1, 0), (7, 6)]
    assert {c["external_id"] for c in sandbox.contacts()} == {customer(1)["id"], customer(2)["id"]}
    queued = destination.query("SELECT stream, code, kind, payload, reason FROM retry_queue")
    assert sorted((s, c, k, p) for s, c, k, p, _ in queued) == [
        ("customers", "input_not_json", "rejected", "{}"),
        ("customers", "input_too_deep", "rejected", "{}"),
        ("customers", "input_too_deep", "rejected", "{}"),
        ("customers", "input_too_large", "rejected", "{}"),
        ("unknown", "input_not_a_message", "rejected", "{}"),
        ("unknown", "input_too_deep", "rejected", "{}"),
    ]
    assert "input line 4" in " ".join(r for *_, r in queued)
    logged = destination.logged()
    assert "Input line 3" in logged and "Input line 8" in logged
    shown = logged + "\n".join(str(m) for m in output) + json.dumps(destination.journal_text())
    assert SECRET_TEXT not in shown and "xxxxxxxx" not in shown
    summary = next(m.log.message for m in output if m.type == Type.LOG)
    assert "rejected 4" in summary and "unknown: queued 2, rejected 2" in summary, summary


class Endless(io.RawIOBase):
    """One very long line, produced as it is read (never held whole by the test)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = b"a" * count
        self.left -= count
        if count == 0 and self.left == 0:
            return 0
        return count


def test_a_long_line_is_skipped_without_holding_it() -> None:
    from destination_crmone.input import CappedInput

    head = b'{"type": "RECORD", "record": {"stream": "customers", "data": {"x": "'
    stream = io.BufferedReader(io.BufferedReader(Endless(64 * 1024 * 1024)), buffer_size=64 * 1024)
    rejected = []
    lines = io.BufferedReader(_Chain(head, stream))
    tracemalloc.start()
    messages = list(CappedInput(lines, max_line_bytes=1024 * 1024, on_reject=rejected.append))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert messages == [] and [r.code for r in rejected] == ["input_too_large"]
    assert rejected[0].length == len(head) + 64 * 1024 * 1024
    assert peak < 8 * 1024 * 1024  # a few MiB, not the 64 MiB line


class _Chain(io.RawIOBase):
    def __init__(self, first: bytes, rest: io.BufferedReader) -> None:
        self.first, self.rest = first, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.first:
            count = min(len(buffer), len(self.first))
            buffer[:count] = self.first[:count]
            self.first = self.first[count:]
            return count
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
