"""One sync as Airbyte runs it: `source read` and `destination write`, two processes, one pipe.

The demo sits in the middle of the pipe, as Airbyte's replication worker does: it passes the
source's RECORD and STATE lines to the destination byte for byte and in order, keeps the
source's LOG and TRACE messages for itself (they go to a log file), counts records per stream,
and saves every STATE the destination echoes, per stream, to the state file: the state a next
run starts from. Both processes are bounded by a timeout and never outlive a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from connectors_common import private_dir, private_opener

SOURCE = "source-commercetools"
DESTINATION = "destination-crmone"
FORWARDED_TYPES = frozenset({"RECORD", "STATE"})  # what Airbyte hands a destination
DISCOVER_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0


class PipelineError(RuntimeError):
    """A connector command failed outside a sync (discover), or could not be found."""


def executable(name: str) -> str:
    """The connector's console script: next to this Python first, then on PATH."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), *_path()]))
    if not found:
        raise PipelineError(f"{name} is not installed (pip install -e . in this repository)")
    return found


def _path() -> list[str]:
    return os.environ.get("PATH", "").split(os.pathsep)


def write_json(path: Path, data: Any) -> None:
    """Written whole or not at all (a killed run never leaves half a file); `0600`, as
    configs hold secrets and dumps personal data."""
    private_dir(path.parent)
    partial = path.with_suffix(path.suffix + ".partial")
    with open(partial, "w", encoding="utf-8", opener=private_opener) as file:
        file.write(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def parse_message(line: bytes) -> dict[str, Any] | None:
    """An Airbyte message, or None for a line that is not one (connectors may print others)."""
    if not line.lstrip().startswith(b"{"):
        return None
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


# --- catalog -------------------------------------------------------------------------------


def configured_catalog(source_config: Path, streams: Iterable[str] | None) -> dict[str, Any]:
    """`source discover`, incremental with its default cursor, deduped by key: `streams` (the
    ones the destination uses, `destination_crmone.streams.used_streams`, so a default
    sync does not read what it throws away), or every stream when `streams` is None."""
    completed = subprocess.run(
        [executable(SOURCE), "discover", "--config", str(source_config)],
        capture_output=True,
        timeout=DISCOVER_TIMEOUT_SECONDS,
        check=False,
    )
    catalog = None
    problems = []
    for line in completed.stdout.splitlines():
        message = parse_message(line) or {}
        if message.get("type") == "CATALOG":
            catalog = message["catalog"]
        elif message.get("type") == "TRACE" and message["trace"].get("error"):
            problems.append(message["trace"]["error"].get("message", ""))
    if completed.returncode != 0 or catalog is None:
        detail = "; ".join(problems) or completed.stderr.decode(errors="replace")[-2000:]
        raise PipelineError(f"{SOURCE} discover failed (exit {completed.returncode}): {detail}")
    wanted = None if streams is None else set(streams)
    return {
        "streams": [
            _configured(stream)
            for stream in catalog["streams"]
            if wanted is None or stream["name"] in wanted
        ]
    }


def _configured(stream: dict[str, Any]) -> dict[str, Any]:
    incremental = "incremental" in stream.get("supported_sync_modes", [])
    return {
        "stream": stream,
        "sync_mode": "incremental" if incremental else "full_refresh",
        "cursor_field": stream.get("default_cursor_field") or [],
        "destination_sync_mode": "append_dedup",
        "primary_key": stream.get("source_defined_primary_key") or [["id"]],
    }


# --- state ---------------------------------------------------------------------------------


class StateFile:
    """The last state the destination echoed, per stream (a list, as `--state` reads it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[tuple[str, ...], dict[str, Any]] = {}
        if path.exists():
            for state in json.loads(path.read_text(encoding="utf-8")):
                self.states[self._key(state)] = state

    @staticmethod
    def _key(state: dict[str, Any]) -> tuple[str, ...]:
        kind = state.get("type", "LEGACY")
        if kind == "STREAM":
            descriptor = state["stream"]["stream_descriptor"]
            return (kind, descriptor.get("namespace") or "", descriptor["name"])
        return (kind,)

    def exists(self) -> bool:
        return self.path.exists()

    def record(self, state: dict[str, Any]) -> None:
        """Keep one echoed state (without the counters) and save the file at once."""
        kept = {k: v for k, v in state.items() if k not in ("sourceStats", "destinationStats")}
        self.states[self._key(kept)] = kept
        write_json(self.path, list(self.states.values()))


# --- one sync ------------------------------------------------------------------------------


@dataclass
class SyncResult:
    label: str
    records: Counter[str] = field(default_factory=Counter)
    states_sent: int = 0
    states_echoed: int = 0
    source_exit: int | None = None
    destination_exit: int | None = None
    duration_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.source_exit == 0 and self.destination_exit == 0 and not self.timed_out


class Sync:
    """`source read | destination write` with the demo in the middle of the pipe.

    `on_state(sync)` runs after each echoed state is saved (a drill may kill
    `sync.destination` there); `on_tick(sync)` runs about every `tick_seconds`.
    """

    def __init__(
        self,
        label: str,
        *,
        source_config: Path,
        destination_config: Path,
        catalog: Path,
        state_file: StateFile,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.result = SyncResult(label)
        self.state_file = state_file
        private_dir(log_dir)
        # stderr and the messages the demo keeps share a file per process (append mode)
        # (closed when the processes end; 0600: they carry the connectors' messages)
        source_log, destination_log = (
            log_dir / f"{label}-source.log",
            log_dir / f"{label}-destination.log",
        )
        self._source_log = open(source_log, "ab", opener=private_opener)  # noqa: SIM115
        self._destination_log = open(destination_log, "ab", opener=private_opener)  # noqa: SIM115
        read = [executable(SOURCE), "read", "--config", str(source_config)]
        read += ["--catalog", str(catalog)]
        if state_file.exists():
            read += ["--state", str(state_file.path)]
        write = [executable(DESTINATION), "write", "--config", str(destination_config)]
        write += ["--catalog", str(catalog)]
        self._env = {**os.environ, **(env or {})}
        self._read_command, self._write_command = read, write
        self.source: subprocess.Popen[bytes] | None = None
        self.destination: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._done = threading.Event()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def run(
        self,
        *,
        timeout_seconds: float = 3600.0,
        on_state: Callable[[Sync], None] | None = None,
        on_tick: Callable[[Sync], None] | None = None,
        tick_seconds: float = 1.0,
    ) -> SyncResult:
        self._started = time.monotonic()
        self.destination = subprocess.Popen(
            self._write_command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._destination_log,
            env=self._env,
            bufsize=0,  # every line reaches the destination when it is written, as in Airbyte
        )
        self.source = subprocess.Popen(
            self._read_command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._source_log,
            env=self._env,
        )
        forwarder = threading.Thread(target=self._forward, name="forward", daemon=True)
        forwarder.start()
        watchdog = threading.Timer(timeout_seconds, self._time_out)
        watchdog.daemon = True
        watchdog.start()
        ticker = None
        if on_tick:
            ticker = threading.Thread(target=self._tick, args=(on_tick, tick_seconds), daemon=True)
            ticker.start()
        try:
            self._read_destination(on_state)
            self.result.destination_exit = _wait(self.destination)
            if self.result.destination_exit != 0 and self.source.poll() is None:
                self.kill()  # the destination failed: Airbyte ends the attempt, source included
                self.result.errors.append("the destination failed: the source was stopped")
            forwarder.join(timeout=STOP_TIMEOUT_SECONDS)
            self.result.source_exit = _wait(self.source)
        finally:
            watchdog.cancel()
            self._done.set()
            self.kill()
            self._source_log.close()
            self._destination_log.close()
        if ticker:
            ticker.join(timeout=tick_seconds + 1)
        self.result.duration_seconds = round(self.elapsed, 2)
        return self.result

    def kill(self) -> None:
        """Stop both processes now (SIGKILL); a no-op for those that already ended."""
        for process in (self.source, self.destination):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def _time_out(self) -> None:
        self.result.timed_out = True
        self.result.errors.append("the sync did not finish in time: both processes were stopped")
        self.kill()

    def _tick(self, on_tick: Callable[[Sync], None], seconds: float) -> None:
        while not self._done.wait(seconds):
            on_tick(self)

    def _forward(self) -> None:
        """Source stdout → destination stdin (RECORD and STATE lines, unchanged)."""
        assert self.source and self.destination
        assert self.source.stdout is not None and self.destination.stdin is not None
        sink: IO[bytes] = self.destination.stdin
        destination_gone = False
        for line in self.source.stdout:
            message = parse_message(line)
            kind = message.get("type") if message else None
            if kind not in FORWARDED_TYPES:
                self._keep(line, message, self._source_log, "source")
                continue
            if kind == "RECORD":
                self.result.records[message["record"]["stream"]] += 1  # type: ignore[index]
            else:
                self.result.states_sent += 1
            try:
                sink.write(line)
            except (BrokenPipeError, OSError):
                destination_gone = True
                break
        if destination_gone and self.source.poll() is None:
            self.source.kill()  # nobody to write to: Airbyte fails the attempt the same way
        with contextlib.suppress(BrokenPipeError, OSError):
            sink.close()

    def _read_destination(self, on_state: Callable[[Sync], None] | None) -> None:
        assert self.destination and self.destination.stdout is not None
        for line in self.destination.stdout:
            message = parse_message(line)
            if message and message.get("type") == "STATE":
                self.state_file.record(message["state"])
                self.result.states_echoed += 1
                if on_state:
                    on_state(self)
            else:
                self._keep(line, message, self._destination_log, "destination")

    def _keep(self, line: bytes, message: dict[str, Any] | None, log: IO[bytes], who: str) -> None:
        """A message for the demo, not for the other connector: log it, note errors."""
        log.write(line if line.endswith(b"\n") else line + b"\n")
        if message and message.get("type") == "TRACE":
            error = message.get("trace", {}).get("error")
            if error:
                self.result.errors.append(f"{who}: {error.get('message', '')}")


def latest_destination_run(destination_config: Path) -> dict[str, Any] | None:
    """The newest row of the destination journal's `runs` table, stats parsed, or None.

    Read with `destination-crmone journal … runs --json`, so it works for either backend.
    """
    command = [executable(DESTINATION), "journal", "--config", str(destination_config)]
    completed = subprocess.run(
        [*command, "runs", "--json", "--limit", "1"],
        capture_output=True,
        timeout=DISCOVER_TIMEOUT_SECONDS,
        check=False,
    )
    for line in completed.stdout.splitlines():
        row = parse_message(line)
        if row and "run_id" in row:
            stats = row.get("stats")
            row["stats"] = json.loads(stats) if isinstance(stats, str) and stats else stats
            return row
    return None


def _wait(process: subprocess.Popen[bytes] | None) -> int | None:
    if process is None:
        return None
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
