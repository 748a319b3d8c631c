"""Helpers of the end-to-end tests: connector files for both sandboxes, bounded commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from demo.pipeline import configured_catalog, write_json
from demo.sandboxes import REPO_ROOT, Sandboxes
from destination_crmone.streams import used_streams


def write_configs(
    sandboxes: Sandboxes, workdir: Path, *, source: dict | None = None
) -> dict[str, Path]:
    """source.json, destination.json (journal in `workdir`) and catalog.json from discover."""
    paths = {name: workdir / f"{name}.json" for name in ("source", "destination", "catalog")}
    write_json(paths["source"], sandboxes.source_config(**(source or {})))
    write_json(paths["destination"], sandboxes.destination_config(workdir / "journal.sqlite"))
    streams = used_streams(json.loads(paths["destination"].read_text()))
    write_json(paths["catalog"], configured_catalog(paths["source"], streams))
    return paths


def run_bounded(
    command: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command that starts children of its own; on timeout its whole group is stopped."""
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the demo's sandboxes and connectors
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the demo stops its children on SIGTERM
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        message = f"timed out after {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        raise AssertionError(message) from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
