"""One id reconciliation against a full read of the same customers, in the same run.

`python -m bench.reconcile [--customers 100000] [--latency-ms 0,60]` measures, per latency:

- `customer_ids` (every live `{id, version, lastModifiedAt}` through GraphQL, key-set paged
  in concurrent time slices like every stream) and `customers` (the full records, REST, the
  default concurrent first read), each a `source-commercetools read` subprocess from an
  empty state;
- requests (the sandbox's count), wall seconds (process start included), bytes of the
  source's output, and the source's peak RSS (`bench/peak_rss.py`);
- the ratios reconciliation ÷ full read.
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

from bench.__main__ import catalog
from bench.source_read import START
from sandbox.commercetools import CommercetoolsSandbox, SeedSpec

VENV_BIN = Path(sys.executable).parent


def read(folder: Path, ct: CommercetoolsSandbox, stream: str) -> dict[str, Any]:
    """One `source-commercetools read` of `stream` from an empty state, measured."""
    config_path, catalog_path = folder / "config.json", folder / "catalog.json"
    config_path.write_text(json.dumps(ct.source_config(start_date=START, reconcile_every_hours=0)))
    catalog_path.write_text(json.dumps(catalog([stream])))
    command = [sys.executable, "-m", "bench.peak_rss", "--keep-stdout"]
    command += [str(VENV_BIN / "source-commercetools"), "read"]
    command += ["--config", str(config_path), "--catalog", str(catalog_path)]
    ct.reset_stats()
    records = output_bytes = 0
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            output_bytes += len(line)
            records += line.startswith(b'{"type":"RECORD"')
        seconds = time.perf_counter() - started
        peak_rss = int(process.stderr.read().split()[-1])
    if process.returncode:
        raise RuntimeError(f"source-commercetools read exited {process.returncode}")
    return {
        "records": records,
        "requests": ct.stats()["total"],
        "seconds": round(seconds, 2),
        "output_mib": round(output_bytes / 2**20, 1),
        "peak_rss_mib": peak_rss // 1024,
    }


def bench(folder: Path, customers: int, latency_ms: int) -> dict[str, Any]:
    with CommercetoolsSandbox(
        seed=SeedSpec(customers=customers, orders=0), latency_ms=latency_ms
    ) as ct:
        snapshot = read(folder, ct, "customer_ids")
        full = read(folder, ct, "customers")
    return {
        "customers": customers,
        "latency_ms": latency_ms,
        "reconciliation": snapshot,
        "full_read": full,
        "ratios": {
            key: round(snapshot[key] / full[key], 2)
            for key in ("requests", "seconds", "output_mib", "peak_rss_mib")
            if full[key]
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--latency-ms", default="0,60", help="comma-separated")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in (int(n) for n in args.latency_ms.split(",")):
            result = bench(Path(tmp), args.customers, latency)
            results.append(result)
            snap, full, ratio = result["reconciliation"], result["full_read"], result["ratios"]
            print(
                f"{args.customers} customers at {latency} ms: reconciliation {snap['requests']} "
                f"requests, {snap['seconds']} s, {snap['output_mib']} MiB out, "
                f"{snap['peak_rss_mib']} MiB peak RSS; full read {full['requests']} requests, "
                f"{full['seconds']} s, {full['output_mib']} MiB out, {full['peak_rss_mib']} MiB "
                f"-> ratios {ratio}"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
