"""`./run.sh bench`: the figures issue 4 asks for, each measured in this one run.

- source read time over the raw paged fetch of the same pages (requests + orjson; see also
  `python -m bench.source_read` for the 100,000-customer figures at 60 ms and 0 ms latency);
- destination contacts per second against a raw paced client, requests per 1,000 contacts
  (first load and re-send) at 20 ms latency and 20 requests/s, mapping CPU per contact;
- an incremental run with no changes: requests and seconds;
- the source's peak memory reading 10,000 vs 100,000 customers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import destination
from bench.source_read import raw_fetch
from sandbox.commercetools import CommercetoolsSandbox, SeedSpec

VENV_BIN = Path(sys.executable).parent


def source_config(ct: CommercetoolsSandbox) -> dict[str, Any]:
    return {
        "project_key": "demo",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "api_url": ct.url,
        "auth_url": ct.url,
        "start_date": "2020-01-01T00:00:00Z",
    }


def catalog(streams: list[str], cursor: str = "lastModifiedAt") -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": [cursor],
                    "source_defined_primary_key": [["id"]],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
                "cursor_field": [cursor],
                "primary_key": [["id"]],
            }
            for name in streams
        ]
    }


def write_json(folder: Path, name: str, value: Any) -> str:
    path = folder / name
    path.write_text(json.dumps(value))
    return str(path)


def source_read(
    folder: Path, config: str, cat: str, state: str | None = None
) -> tuple[float, list]:
    command = [str(VENV_BIN / "source-commercetools"), "read", "--config", config, "--catalog", cat]
    if state:
        command += ["--state", state]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, check=True).stdout
    elapsed = time.perf_counter() - started
    return elapsed, [orjson.loads(line) for line in out.splitlines() if line.strip()]


def bench_source(folder: Path, customers: int) -> dict[str, Any]:
    with CommercetoolsSandbox(seed=SeedSpec(customers=customers, orders=0)) as ct:
        config = write_json(folder, "source.json", source_config(ct))
        cat = write_json(folder, "catalog.json", catalog(["customers"]))
        raw_seconds, raw_count = raw_fetch(ct)
        read_seconds, messages = source_read(folder, config, cat)
        records = sum(1 for m in messages if m["type"] == "RECORD")
        states = [m for m in messages if m["type"] == "STATE"]
        state = write_json(folder, "state.json", [states[-1]["state"]])
        ct.reset_stats()
        idle_seconds, idle = source_read(folder, config, cat, state)
        idle_requests = ct.stats()["total"]
    return {
        "customers": customers,
        "raw_fetch_s": round(raw_seconds, 2),
        "source_read_s": round(read_seconds, 2),
        "records": records,
        "raw_records": raw_count,
        "read_over_raw": round(read_seconds / raw_seconds, 2),
        "incremental_no_change_s": round(idle_seconds, 2),
        "incremental_no_change_requests": idle_requests,
        "incremental_no_change_records": sum(1 for m in idle if m["type"] == "RECORD"),
    }


def bench_destination(folder: Path, contacts: int, latency_ms: int, rate: int) -> dict[str, Any]:
    with CommercetoolsSandbox(seed=SeedSpec(customers=contacts, orders=0)) as ct:
        config = write_json(folder, "source.json", source_config(ct))
        cat = write_json(folder, "catalog.json", catalog(["customers"]))
        _, messages = source_read(folder, config, cat)
    return destination.bench_destination(folder, messages, cat, latency_ms, rate)


def peak_memory(folder: Path, customers: int) -> int:
    with CommercetoolsSandbox(seed=SeedSpec(customers=customers, orders=0)) as ct:
        config = write_json(folder, "source.json", source_config(ct))
        cat = write_json(folder, "catalog.json", catalog(["customers"]))
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.peak_rss",
                str(VENV_BIN / "source-commercetools"),
                "read",
                "--config",
                config,
                "--catalog",
                cat,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--rate", type=int, default=20, help="CRM One requests per second")
    parser.add_argument("--memory", default="10000,100000", help="customer counts to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = bench_source(folder, args.customers)
        print(
            f"source: {source['records']} customers read in {source['source_read_s']} s; raw "
            f"paged fetch {source['raw_fetch_s']} s -> ratio {source['read_over_raw']}"
        )
        print(
            f"incremental, no changes: {source['incremental_no_change_requests']} requests, "
            f"{source['incremental_no_change_s']} s, "
            f"{source['incremental_no_change_records']} records"
        )
        crm = bench_destination(folder, args.contacts, args.latency_ms, args.rate)
        print(destination.summary(crm))
        small, large = (int(n) for n in args.memory.split(","))
        rss_small, rss_large = peak_memory(folder, small), peak_memory(folder, large)
        print(
            f"source peak RSS: {rss_small // 1024} MiB at {small} customers, "
            f"{rss_large // 1024} MiB at {large} -> ratio {rss_large / rss_small:.2f} "
            f"for {large / small:.0f}x the data"
        )
        print(
            json.dumps(
                {
                    "source": source,
                    "destination": crm,
                    "peak_rss_kib": {str(small): rss_small, str(large): rss_large},
                }
            )
        )


if __name__ == "__main__":
    main()
