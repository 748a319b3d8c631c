"""The real `source-commercetools` command against servers that stall, drip or flood: `read`
and `check` end within the configured bounds with an error naming the host, and the peak
memory of the process stays far below what the hostile answers would cost unbounded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration_tests.source.cli import COMMAND, catalog
from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from sandbox.commercetools.stalling import StallingServer

BOUNDS = {
    "read_timeout_seconds": 1,
    "request_timeout_seconds": 2,
    "retry_backoff_seconds": 0.01,
}
# A run of the command against the healthy sandbox peaks near 100 MB; unbounded, the flooded
# page cost ~480 MB and a 1.5 GB token answer 1.6 GB.
PEAK_RSS_MB = 300


@dataclass
class Finished:
    messages: list[dict[str, Any]]
    returncode: int
    seconds: float
    peak_rss_mb: float

    def errors(self) -> list[str]:
        return [
            m["trace"]["error"]["message"]
            for m in self.messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]

    def status(self) -> dict[str, Any]:
        return next(
            m["connectionStatus"] for m in self.messages if m["type"] == "CONNECTION_STATUS"
        )


# Runs the command and prints its exit code and peak RSS (KiB). Measured from this small
# process: a child forked straight from pytest would count pytest's own pages in its ru_maxrss.
WRAPPER = """
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    code = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_measured(tmp: Path, command: str, config: dict[str, Any], streams: list[str]) -> Finished:
    """The command as a grandchild process, with its exit code and peak RSS."""
    (tmp / "config.json").write_text(json.dumps(config))
    args = [str(COMMAND), command, "--config", str(tmp / "config.json")]
    if command == "read":
        (tmp / "catalog.json").write_text(json.dumps(catalog(streams, "incremental")))
        args += ["--catalog", str(tmp / "catalog.json")]
    started = time.monotonic()
    wrapper = [sys.executable, "-c", WRAPPER, str(tmp / "out"), str(tmp / "err")]
    done = subprocess.run([*wrapper, *args], capture_output=True, text=True, check=True)
    seconds = time.monotonic() - started
    code, peak_kib = (int(word) for word in done.stdout.split())
    lines = (tmp / "out").read_text().splitlines()
    messages = [json.loads(line) for line in lines if line.startswith("{")]
    return Finished(messages, code, seconds, peak_kib / 1024)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(seed=SeedSpec(customers=200, orders=20)) as server:
        yield server


@pytest.mark.parametrize("mode", ["stall", "drip", "drip_head"])
def test_read_against_a_stalled_or_dripping_api_ends_in_bounds(sandbox, tmp_path, mode):
    with StallingServer(mode, interval_s=1.0, max_seconds=60) as hostile:
        host = hostile.url.removeprefix("http://")
        config = sandbox.source_config(api_url=hostile.url, **BOUNDS)
        done = run_measured(tmp_path, "read", config, ["customers"])

    assert done.returncode != 0
    assert not [m for m in done.messages if m["type"] == "RECORD"]
    assert done.errors()[0].startswith(
        f"Stream 'customers': {host} did not answer in time, 3 attempts"
    )
    # three attempts of at most 2 s and two waits of ~1 s, plus start-up
    assert done.seconds < 3 * 2 + 2 * 1.1 + 10


@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_check_against_a_stalled_or_dripping_token_endpoint_ends_in_bounds(sandbox, tmp_path, mode):
    with StallingServer(mode, interval_s=1.0, max_seconds=60) as hostile:
        host = hostile.url.removeprefix("http://")
        config = sandbox.source_config(auth_url=hostile.url, **BOUNDS)
        done = run_measured(tmp_path, "check", config, [])

    status = done.status()
    assert status["status"] == "FAILED"
    assert status["message"].startswith(
        f"The token endpoint at {host} did not answer in time, 3 attempts"
    )
    assert done.seconds < 3 * 2 + 10


def test_check_against_a_stalled_api_ends_in_bounds(sandbox, tmp_path):
    with StallingServer("stall", max_seconds=60) as hostile:
        host = hostile.url.removeprefix("http://")
        done = run_measured(
            tmp_path, "check", sandbox.source_config(api_url=hostile.url, **BOUNDS), []
        )
    assert done.status()["status"] == "FAILED"
    assert f"{host} did not answer in time, 3 attempts" in done.status()["message"]
    assert done.seconds < 3 * 2 + 2 * 1.1 + 10


def test_a_page_of_a_million_results_fails_clearly_without_the_memory(sandbox, tmp_path):
    sandbox.set_hostile(flood_items=1_000_000)
    try:
        done = run_measured(tmp_path, "read", sandbox.source_config(**BOUNDS), ["customers"])
    finally:
        sandbox.set_hostile(flood_items=0)
    assert done.errors()[0].startswith(
        "Stream 'customers': commercetools answered 1000000 results to a query for at most 500"
    )
    assert done.peak_rss_mb < PEAK_RSS_MB, done.peak_rss_mb


def test_a_huge_token_answer_fails_clearly_without_the_memory(sandbox, tmp_path):
    sandbox.set_hostile(token_padding_bytes=1_500 << 20)
    try:
        done = run_measured(tmp_path, "read", sandbox.source_config(**BOUNDS), ["customers"])
    finally:
        sandbox.set_hostile(token_padding_bytes=0)
    (message,) = done.errors()
    assert "answered more than 64 KiB, which no token is; refusing it" in message
    assert done.peak_rss_mb < PEAK_RSS_MB, done.peak_rss_mb


def test_the_healthy_read_stays_under_the_same_bound(sandbox, tmp_path):
    done = run_measured(tmp_path, "read", sandbox.source_config(**BOUNDS), ["customers"])
    assert done.returncode == 0 and not done.errors()
    assert len([m for m in done.messages if m["type"] == "RECORD"]) == 200
    assert done.peak_rss_mb < PEAK_RSS_MB, done.peak_rss_mb
