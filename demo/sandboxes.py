"""The two sandbox servers as subprocesses on 127.0.0.1: start, seed, mutate, dump, stop.

Each server is started with `python -m sandbox.<name> --port 0 …` and announces itself with
one line `READY <url>`; everything afterwards goes through its `/_sandbox/` admin endpoints
(see docs/internals.md), so the demo drives the servers exactly as a separate tool would.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from connectors_common import private_dir, private_opener

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 120.0  # seeding 2,000 customers and 6,000 orders takes a few seconds
ADMIN_TIMEOUT_SECONDS = 30.0

# The sandboxes' default credentials (docs/internals.md); never real secrets.
COMMERCETOOLS_PROJECT = "demo"
COMMERCETOOLS_CLIENT = ("sandbox-client", "sandbox-secret")
CRMONE_CLIENT = ("crmone-client", "crmone-secret")
STORES = ("eu-web", "us-web")
# Like the real API, the commercetools sandbox makes a change visible to queries only after a
# random delay up to this, with the timestamp it was made at (seeded data is visible at once).
VISIBILITY_DELAY_SECONDS = 2.0
STORE_LISTS = {"eu-web": "l_eu_newsletter", "us-web": "l_us_newsletter"}


@dataclass(frozen=True)
class Seed:
    customers: int = 2000
    orders: int = 6000
    bad_customers: int = 20


@dataclass(frozen=True)
class Mutation:
    update_customers: int = 50
    delete_customers: int = 5
    update_orders: int = 30
    cancel_orders: int = 20


class SandboxError(RuntimeError):
    """A sandbox did not start or refused an admin call."""


class SandboxProcess:
    """One sandbox server running as a child process."""

    def __init__(self, name: str, module: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[str] = open(log_path, "w", encoding="utf-8", opener=private_opener)  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *_pythonpath()])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.url = self._wait_ready()

    def _wait_ready(self) -> str:
        """The URL from the `READY <url>` line; later output is copied to the log."""
        lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)
                self._log.write(line)
                self._log.flush()
            lines.put(None)

        threading.Thread(target=pump, name=f"{self.name}-stdout", daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=READY_TIMEOUT_SECONDS)
                if line is None:
                    break
                if line.startswith("READY "):
                    return line.split(maxsplit=1)[1].strip()
        except queue.Empty:
            pass
        self.stop()
        raise SandboxError(
            f"the {self.name} sandbox did not start (exit {self.process.returncode}); "
            f"see {self.log_path}"
        )

    def admin(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(
            method, f"{self.url}/_sandbox/{action}", json=body, timeout=ADMIN_TIMEOUT_SECONDS
        )
        if not response.ok:
            raise SandboxError(f"{self.name} {method} /_sandbox/{action}: {response.status_code}")
        return response.json() if response.content else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def _pythonpath() -> list[str]:
    current = os.environ.get("PYTHONPATH")
    return current.split(os.pathsep) if current else []


class Sandboxes:
    """Both sandboxes, seeded; a context manager that always stops them."""

    def __init__(
        self,
        workdir: Path,
        seed: Seed = Seed(),
        *,
        crm_requests_per_second: int = 100,
    ) -> None:
        private_dir(workdir)
        self.workdir = workdir
        self.commercetools = SandboxProcess(
            "commercetools",
            "sandbox.commercetools",
            [
                "--customers",
                str(seed.customers),
                "--orders",
                str(seed.orders),
                "--bad-customers",
                str(seed.bad_customers),
                "--visibility-delay",
                str(VISIBILITY_DELAY_SECONDS),
            ],
            workdir / "commercetools-sandbox.log",
        )
        try:
            self.crmone = SandboxProcess(
                "CRM One",
                "sandbox.crmone",
                [
                    "--rps",
                    str(crm_requests_per_second),
                    "--stores",
                    ",".join(STORES),
                    "--client-id",
                    CRMONE_CLIENT[0],
                    "--client-secret",
                    CRMONE_CLIENT[1],
                ],
                workdir / "crmone-sandbox.log",
            )
        except BaseException:
            self.commercetools.stop()
            raise

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            self.crmone.stop()
        finally:
            self.commercetools.stop()

    # --- connector configs --------------------------------------------------------------

    def source_config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "project_key": COMMERCETOOLS_PROJECT,
            "client_id": COMMERCETOOLS_CLIENT[0],
            "client_secret": COMMERCETOOLS_CLIENT[1],
            "api_url": self.commercetools.url,
            "auth_url": self.commercetools.url,
            "start_date": "2024-01-01T00:00:00Z",
            **overrides,
        }

    def destination_config(self, journal_path: Path, **overrides: Any) -> dict[str, Any]:
        return {
            "base_url": self.crmone.url,
            "client_id": CRMONE_CLIENT[0],
            "client_secret": CRMONE_CLIENT[1],
            "journal": {"type": "sqlite", "path": str(journal_path)},
            "store_routing": [
                {"store_key": store, "list_ids": [list_id]}
                for store, list_id in STORE_LISTS.items()
            ],
            **overrides,
        }

    # --- admin ----------------------------------------------------------------------------

    def mutate(self, mutation: Mutation) -> dict[str, list[str]]:
        """Changes in commercetools; answers the ids touched per kind of change once every
        change is visible to queries (after the sandbox's visibility delay)."""
        changes = self.commercetools.admin("POST", "mutate", mutation.__dict__)
        time.sleep(VISIBILITY_DELAY_SECONDS)
        return changes

    def set_faults(self, rate: float, *, retry_after: int = 1) -> None:
        """Injected 502/503/504/429 in both servers (`retry_after`: commercetools' 429 hint)."""
        self.commercetools.admin("POST", "faults", {"rate": rate, "retry_after": retry_after})
        self.crmone.admin("POST", "faults", {"rate": rate})

    def reset_stats(self) -> None:
        self.commercetools.admin("POST", "stats/reset")
        self.crmone.admin("POST", "stats/reset")

    def request_counts(self) -> dict[str, int]:
        """API requests each server answered since the last reset (admin calls excluded)."""
        return {
            "commercetools": int(self.commercetools.admin("GET", "stats").get("total", 0)),
            "crmone": int(self.crmone.admin("GET", "stats").get("total", 0)),
        }

    def crm_dump(self) -> dict[str, Any]:
        return self.crmone.admin("GET", "dump")

    def commercetools_dump(self) -> dict[str, Any]:
        return self.commercetools.admin("GET", "dump")
