"""`python -m sandbox.commercetools`: READY line, serving, clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests


def test_cli_prints_ready_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.commercetools",
            "--port",
            "0",
            "--customers",
            "40",
            "--orders",
            "30",
            "--bad-customers",
            "4",
            "--fault-rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.removeprefix("READY ")
        token = requests.post(
            f"{url}/oauth/token",
            params={"grant_type": "client_credentials"},
            auth=("sandbox-client", "sandbox-secret"),
            timeout=10,
        ).json()["access_token"]
        page = requests.get(
            f"{url}/demo/customers",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert page["total"] == 44
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
