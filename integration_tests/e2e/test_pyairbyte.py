"""The docs' PyAirbyte sections, run as written, offline, against the sandboxes.

Each connector page has a `### With PyAirbyte` section: a Python script and the shell line that
runs it (`PATH=… AIRBYTE_OFFLINE_MODE=1 .venv/bin/python script.py`). Both are taken from the
page and run in a scratch directory holding the configs and a `.venv` link to this virtualenv,
so PyAirbyte finds each connector by its name, as `bin/<connector name>`. Any request that is
not to 127.0.0.1 goes to a proxy that does not exist: a registry look-up would fail the run.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from demo.pipeline import write_json
from demo.sandboxes import REPO_ROOT, Seed
from integration_tests.e2e.expected import assert_crm_matches
from integration_tests.e2e.workspace import run_bounded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

VENV = Path(sys.executable).parents[1]


def documented(page: str) -> tuple[str, str, str]:
    """(script name, Python script, shell line) of the page's PyAirbyte section."""
    text = (REPO_ROOT / "docs" / page).read_text()
    section = re.search(r"^### With PyAirbyte\n(.*?)(?=^##)", text, re.M | re.S)
    assert section, f"{page} has no PyAirbyte section"
    python = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    shell = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    assert len(python) == 1 and len(shell) == 1, f"{page}: one script and one command"
    line = shell[0].strip()
    script = re.search(r"(\S+\.py)$", line)
    assert script and "AIRBYTE_OFFLINE_MODE=1" in line, line
    return script.group(1), python[0], line


def offline_env(root: Path) -> dict[str, str]:
    """PyAirbyte's directories in `root`; no telemetry; nothing reachable but loopback. The
    page's own command line must set AIRBYTE_OFFLINE_MODE."""
    for name in ("project", "cache", "logs", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRBYTE_")}
    dead_proxy = "http://127.0.0.1:9"  # discard port: nothing listens
    return {
        **env,
        "PATH": "/usr/bin:/bin",  # the command line puts the virtualenv first
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(root / "project"),
        "AIRBYTE_CACHE_ROOT": str(root / "cache"),
        "AIRBYTE_LOGGING_ROOT": str(root / "logs"),
        "AIRBYTE_TEMP_DIR": str(root / "tmp"),
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "http_proxy": dead_proxy,
        "https_proxy": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "CRMONE_BACKOFF_BASE": "0.01",
    }


def run_documented(page: str, workdir: Path) -> str:
    script, python, line = documented(page)
    (workdir / script).write_text(python)
    completed = run_bounded(
        ["bash", "-c", line], env=offline_env(workdir / "pyairbyte"), timeout=180, cwd=workdir
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def test_the_docs_pyairbyte_snippets_run_offline_by_connector_name(
    start_sandboxes, tmp_path: Path
) -> None:
    sandboxes = start_sandboxes(Seed(customers=150, orders=450, bad_customers=4))
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(VENV)
    write_json(workdir / "source.json", sandboxes.source_config())
    write_json(workdir / "destination.json", sandboxes.destination_config(tmp_path / "j.sqlite"))

    printed = run_documented("source-commercetools.md", workdir).split()
    commercetools = sandboxes.commercetools_dump()
    assert sorted(printed) == sorted(record["id"] for record in commercetools["customers"])

    output = run_documented("destination-crmone.md", workdir)
    written = re.search(r"^(\d+) records written$", output, re.M)
    assert written, output[-2000:]
    found = assert_crm_matches(commercetools, sandboxes.crm_dump(), tmp_path / "j.sqlite")
    assert found["contacts"] == len(commercetools["customers"]) == 154
    assert int(written.group(1)) >= len(commercetools["customers"])
