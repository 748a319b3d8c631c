"""Run the real `source-commercetools` command as a subprocess and collect its messages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STREAMS = (
    "customers",
    "orders",
    "carts",
    "payments",
    "products",
    "discount_codes",
    "stores",
    "customer_groups",
    "types",
    "messages",
)
COMMAND = Path(sys.executable).with_name("source-commercetools")


@dataclass
class Run:
    messages: list[dict[str, Any]]
    returncode: int
    stderr: str

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"]["data"]
            for m in self.messages
            if m["type"] == "RECORD" and m["record"]["stream"] == stream
        ]

    def ids(self, stream: str) -> Counter[str]:
        return Counter(record["id"] for record in self.records(stream))

    def final_states(self) -> list[dict[str, Any]]:
        """The last STATE of each stream, as a state file for the next run."""
        last: dict[str, dict[str, Any]] = {}
        for message in self.messages:
            if message["type"] == "STATE":
                state = message["state"]
                state.pop("sourceStats", None)
                last[state["stream"]["stream_descriptor"]["name"]] = state
        return list(last.values())

    def errors(self) -> list[str]:
        return [
            m["trace"]["error"]["message"]
            for m in self.messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]


def catalog(streams: tuple[str, ...] | list[str], mode: str) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": [
                        "createdAt" if name == "messages" else "lastModifiedAt"
                    ],
                },
                "sync_mode": mode,
                "destination_sync_mode": "append",
            }
            for name in streams
        ]
    }


def run(
    tmp: Path,
    command: str,
    config: dict[str, Any],
    *,
    streams: tuple[str, ...] | list[str] = STREAMS,
    mode: str = "incremental",
    state: list[dict[str, Any]] | None = None,
) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_text(json.dumps(config))
    args = [str(COMMAND), command, "--config", str(tmp / "config.json")]
    if command == "read":
        (tmp / "catalog.json").write_text(json.dumps(catalog(streams, mode)))
        args += ["--catalog", str(tmp / "catalog.json")]
        if state is not None:
            (tmp / "state.json").write_text(json.dumps(state))
            args += ["--state", str(tmp / "state.json")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return Run(messages, done.returncode, done.stderr)
