"""The source's read against a plain sequential key-set fetch, in the same run.

`python -m bench.source_read [--customers 100000] [--latency-ms 60]` measures:

- at `--latency-ms` per request: wall time of `source-commercetools read` (process start
  included) over a sequential raw key-set fetch of the same collection (requests + orjson),
  and the source's peak RSS (flat memory: compare `--customers 10000`);
- at 0 ms: steady-state records/s of the source (first record to last, read from its stdout)
  over the raw fetch's records/s.
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
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec

VENV_BIN = Path(sys.executable).parent
START = "2020-01-01T00:00:00.000Z"
KEYSET = "lastModifiedAt > :t or (lastModifiedAt = :t and id > :id)"


def source_config(ct: CommercetoolsSandbox) -> dict[str, Any]:
    return ct.source_config(start_date=START)


def customers_catalog() -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": "customers",
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": ["lastModifiedAt"],
                    "source_defined_primary_key": [["id"]],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
                "cursor_field": ["lastModifiedAt"],
                "primary_key": [["id"]],
            }
        ]
    }


def raw_fetch(ct: CommercetoolsSandbox, page_size: int = 500) -> tuple[float, int]:
    """The floor: the same key-set pages, one after another, with plain requests + orjson.
    Returns (seconds, records), the token request included."""
    started = time.perf_counter()
    session = requests.Session()
    token = session.post(
        f"{ct.url}/oauth/token",
        params={"grant_type": "client_credentials"},
        auth=(ct.client_id, ct.client_secret),
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    where: dict[str, str] = {"where": "lastModifiedAt >= :t", "var.t": START}
    count = 0
    while True:
        response = session.get(
            f"{ct.url}/{ct.project_key}/customers",
            params={
                "sort": ["lastModifiedAt asc", "id asc"],
                **where,
                "limit": page_size,
                "withTotal": "false",
            },
        )
        results = orjson.loads(response.content)["results"]
        count += len(results)
        if len(results) < page_size:
            return time.perf_counter() - started, count
        last = results[-1]
        where = {"where": KEYSET, "var.t": last["lastModifiedAt"], "var.id": last["id"]}


def source_read(folder: Path, config: dict[str, Any]) -> dict[str, float]:
    """`source-commercetools read` in a subprocess: wall time (process start included, the
    small peak-RSS wrapper too), records, the first-to-last record span, and peak RSS."""
    config_path, catalog_path = folder / "config.json", folder / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(customers_catalog()))
    command = [
        sys.executable,
        "-m",
        "bench.peak_rss",
        "--keep-stdout",
        str(VENV_BIN / "source-commercetools"),
        "read",
        "--config",
        str(config_path),
        "--catalog",
        str(catalog_path),
    ]
    started = time.perf_counter()
    first = last = 0.0
    records = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                last = time.perf_counter()
                first = first or last
                records += 1
        wall = time.perf_counter() - started
        peak_rss = process.stderr.read().split()[-1]
    if process.returncode:
        raise RuntimeError(f"source-commercetools read exited {process.returncode}")
    return {
        "seconds": wall,
        "records": records,
        "steady_seconds": last - first,
        "peak_rss_kib": int(peak_rss),
    }


def bench_latency(folder: Path, customers: int, latency_ms: int) -> dict[str, Any]:
    with CommercetoolsSandbox(
        seed=SeedSpec(customers=customers, orders=0), latency_ms=latency_ms
    ) as ct:
        raw_seconds, raw_records = raw_fetch(ct)
        ct.reset_stats()
        read = source_read(folder, source_config(ct))
        requests_made = ct.stats()["total"]
    return {
        "customers": customers,
        "latency_ms": latency_ms,
        "raw_fetch_s": round(raw_seconds, 2),
        "raw_records": raw_records,
        "source_read_s": round(read["seconds"], 2),
        "records": read["records"],
        "source_requests": requests_made,
        "read_over_raw": round(read["seconds"] / raw_seconds, 2),
        "source_peak_rss_mib": round(read["peak_rss_kib"] / 1024),
    }


def bench_throughput(folder: Path, customers: int) -> dict[str, Any]:
    with CommercetoolsSandbox(seed=SeedSpec(customers=customers, orders=0)) as ct:
        raw_seconds, raw_records = raw_fetch(ct)
        read = source_read(folder, source_config(ct))
    raw_rate = raw_records / raw_seconds
    source_rate = read["records"] / read["steady_seconds"]
    return {
        "customers": customers,
        "raw_records_per_s": round(raw_rate),
        "source_records_per_s": round(source_rate),
        "source_over_raw": round(source_rate / raw_rate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        slow = bench_latency(folder, args.customers, args.latency_ms)
        print(
            f"source read at {args.latency_ms} ms: {slow['records']} customers in "
            f"{slow['source_read_s']} s ({slow['source_requests']} requests); sequential raw "
            f"fetch {slow['raw_fetch_s']} s -> ratio {slow['read_over_raw']}; source peak RSS "
            f"{slow['source_peak_rss_mib']} MiB"
        )
        fast = bench_throughput(folder, args.customers)
        print(
            f"source at 0 ms: {fast['source_records_per_s']} records/s steady state; raw "
            f"{fast['raw_records_per_s']} records/s -> ratio {fast['source_over_raw']}"
        )
        print(json.dumps({"latency": slow, "throughput": fast}))


if __name__ == "__main__":
    main()
