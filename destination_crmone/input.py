"""The destination's stdin, read with limits: no line longer than `max_line_bytes` is held in
memory, no message nested deeper than `MAX_DEPTH` reaches the code that walks records.

Every input line is accounted for. A line that cannot be read as an Airbyte message — over
the line cap (whatever the order of its keys), nested too deep, not decodable JSON (invalid
UTF-8, `NaN`/`Infinity`, a number out of range, broken syntax), or a RECORD without the shape
of one — is a refused record, handed to `on_reject`: the destination queues it with its
reason, counts it in the covering STATE's `recordCount` and `rejectedRecordCount`, and the
run goes on. A line the destination cannot read cannot tell what it was, so it counts as a
record: the side that never hides a lost record (a STATE is never that large or broken
coming from a source). Only well-formed JSON that names another type (a LOG, a TRACE) and
is still not a message is logged and skipped, as the CDK does. Every refusal is reported by
its position (line number) and length only, never by its content (a truncated record holds
personal data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from airbyte_cdk.models import AirbyteMessage

from destination_crmone.config import DEFAULT_MAX_LINE_BYTES
from destination_crmone.messages import load_message

logger = logging.getLogger("airbyte")

MAX_DEPTH = 64
SKIP_CHUNK = 1024 * 1024
HEAD_BYTES = 4096  # read from a long line to tell a RECORD and its stream
_STREAM = re.compile(rb'"stream"\s*:\s*"([A-Za-z0-9_.\-]{1,128})"')


@dataclass(frozen=True)
class RejectedInput:
    """A RECORD line that broke a limit: where it was, how long, and why."""

    line: int
    length: int
    stream: str | None
    code: str
    reason: str


def deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than `limit` levels (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


class CappedInput:
    """The Airbyte messages of a stream of JSON lines, read within the limits."""

    def __init__(
        self,
        stream: IO[bytes] | IO[str],
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_depth: int = MAX_DEPTH,
        on_reject: Callable[[RejectedInput], None] | None = None,
    ) -> None:
        self.stream = stream
        self.max_line_bytes = max_line_bytes
        self.max_depth = max_depth
        self.on_reject = on_reject

    def __iter__(self) -> Iterator[AirbyteMessage]:
        for line, length, head, text in self._lines():
            if text is None:
                reason = f"{length} bytes, over the limit of {self.max_line_bytes} (max_line_bytes)"
                self._refuse(line, length, head, "input_too_large", reason)
                continue
            message = self._message(line, text)
            if message is not None:
                yield message

    def _lines(self) -> Iterator[tuple[int, int, bytes, bytes | None]]:
        """(line number, length, head, the line or None when it is over the limit)."""
        number = 0
        while True:
            chunk = self._read(self.max_line_bytes + 1)
            if not chunk:
                return
            number += 1
            if len(chunk) <= self.max_line_bytes or chunk.endswith(b"\n"):
                if chunk.strip():
                    yield number, len(chunk.rstrip(b"\r\n")), chunk[:HEAD_BYTES], chunk
                continue
            length, head = len(chunk), chunk[:HEAD_BYTES]
            while not chunk.endswith(b"\n"):  # the rest of the line, never held whole
                chunk = self._read(SKIP_CHUNK)
                if not chunk:
                    break
                length += len(chunk)
            yield number, length - (1 if chunk.endswith(b"\n") else 0), head, None

    def _read(self, size: int) -> bytes:
        data = self.stream.readline(size)
        return data.encode() if isinstance(data, str) else data

    def _message(self, line: int, text: bytes) -> AirbyteMessage | None:
        length = len(text.rstrip(b"\r\n"))
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            if "depth" in str(error) or "recursion" in str(error):
                return self._too_deep(line, length, text)
            reason = f"{length} bytes, {undecodable(str(error))}"
            return self._refuse(line, length, text[:HEAD_BYTES], "input_not_json", reason)
        if deeper_than(parsed, self.max_depth):
            return self._too_deep(line, length, text)
        try:
            return load_message(parsed)
        except Exception:  # valid JSON, but no Airbyte message: its content stays unquoted
            kind = parsed.get("type") if isinstance(parsed, dict) else None
            if kind in (None, "RECORD") or not isinstance(kind, str):
                reason = f"{length} bytes, not an Airbyte message of any known shape"
                return self._refuse(line, length, text[:HEAD_BYTES], "input_not_a_message", reason)
            logger.warning(
                "Input line %d (%d bytes) is not an Airbyte message; skipped.", line, length
            )
            return None

    def _too_deep(self, line: int, length: int, text: bytes) -> None:
        reason = f"{length} bytes, nested deeper than {self.max_depth} levels"
        return self._refuse(line, length, text[:HEAD_BYTES], "input_too_deep", reason)

    def _refuse(self, line: int, length: int, head: bytes, code: str, reason: str) -> None:
        """A line that cannot be read: a refused record (of the stream its head names, if
        any), handed to `on_reject`; logged by position and length without one."""
        found = _STREAM.search(head)
        stream = found.group(1).decode() if found else None
        logger.warning("Input line %d refused as a record: %s.", line, reason)
        if self.on_reject is not None:
            self.on_reject(
                RejectedInput(line, length, stream, code, f"input line {line}: {reason}")
            )
        return None


def undecodable(error: str) -> str:
    """Why orjson could not decode a line, in words that quote nothing of it."""
    if "UTF-8" in error or "utf-8" in error:
        return "not valid UTF-8"
    if "infinity" in error.lower() or "number" in error.lower():
        return "a number out of range (larger than a double)"
    if "NaN" in error or "unexpected character" in error:
        return "not JSON (NaN, Infinity or broken syntax)"
    return "not JSON"
