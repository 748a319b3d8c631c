"""`./run.sh demo` (`python -m demo`): the main job, end to end.

Without config files: start the commercetools and CRM One sandboxes, seed them, sync
everything, change some customers and orders, sync again from the saved state, and print a
summary per run and stream. With `--source-config` and `--destination-config`: one sync
against real accounts, from `--state-file` when it exists (and saved back to it).

Everything the demo writes goes to the work directory (`.demo/` by default): configs, the
configured catalog, `state.json`, the destination journal, logs per process, `summary.json`
and, in sandbox mode, dumps of both sandboxes taken at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from connectors_common import private_dir
from demo.pipeline import (
    PipelineError,
    StateFile,
    Sync,
    configured_catalog,
    latest_destination_run,
    write_json,
)
from demo.sandboxes import REPO_ROOT, Mutation, SandboxError, Sandboxes, Seed
from demo.summary import RunReport, progress_line, render, render_crm_totals
from destination_crmone.streams import used_streams

EXIT_SYNC_FAILED = 1
EXIT_SETUP_FAILED = 2
FRESH_EACH_TIME = (
    "source.json",
    "destination.json",
    "catalog.json",
    "state.json",
    "journal.sqlite",
    "journal.sqlite-wal",
    "journal.sqlite-shm",
    "summary.json",
    "crm-dump.json",
    "commercetools-dump.json",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./run.sh demo",
        description="source-commercetools | destination-crmone, two processes over a pipe.",
    )
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / ".demo")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per sync")
    parser.add_argument(
        "--all-streams",
        action="store_true",
        help="select every source stream, also those the destination only acknowledges",
    )
    real = parser.add_argument_group("real accounts (no sandboxes, one sync)")
    real.add_argument("--source-config", type=Path, help="source-commercetools config JSON")
    real.add_argument("--destination-config", type=Path, help="destination-crmone config JSON")
    real.add_argument(
        "--state-file", type=Path, help="start from this state if it exists; saved back to it"
    )
    seed = parser.add_argument_group("sandbox mode")
    seed.add_argument("--customers", type=int, default=Seed.customers)
    seed.add_argument("--orders", type=int, default=Seed.orders)
    seed.add_argument("--bad-customers", type=int, default=Seed.bad_customers)
    seed.add_argument("--update-customers", type=int, default=Mutation.update_customers)
    seed.add_argument("--delete-customers", type=int, default=Mutation.delete_customers)
    seed.add_argument("--update-orders", type=int, default=Mutation.update_orders)
    seed.add_argument("--cancel-orders", type=int, default=Mutation.cancel_orders)
    seed.add_argument("--page-size", type=int, default=500, help="source page size")
    seed.add_argument("--fault-rate", type=float, default=0.0, help="injected 5xx/429 share")
    seed.add_argument("--crm-rps", type=int, default=100, help="CRM One requests per second")
    seed.add_argument(
        "--serve", action="store_true", help="keep the sandboxes up after the summary (Ctrl-C)"
    )
    args = parser.parse_args(argv)
    if (args.source_config is None) != (args.destination_config is None):
        parser.error("--source-config and --destination-config go together")
    return args


def run_once(title: str, label: str, workdir: Path, state: StateFile, timeout: float) -> RunReport:
    """One sync with a progress line every second; its report (destination stats included)."""
    print(f"\n{title}", flush=True)
    runner = Sync(
        label,
        source_config=workdir / "source.json",
        destination_config=workdir / "destination.json",
        catalog=workdir / "catalog.json",
        state_file=state,
        log_dir=workdir / "logs",
    )
    result = runner.run(
        timeout_seconds=timeout, on_tick=lambda s: print(progress_line(s), flush=True)
    )
    print(progress_line(runner), flush=True)
    return RunReport(title, result, latest_destination_run(workdir / "destination.json"))


def run_sandboxes(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    private_dir(workdir)
    for name in FRESH_EACH_TIME:
        (workdir / name).unlink(missing_ok=True)
    shutil.rmtree(workdir / "logs", ignore_errors=True)
    seed = Seed(args.customers, args.orders, args.bad_customers)
    print(
        f"Starting the sandboxes: {seed.customers:,} customers (+{seed.bad_customers} bad), "
        f"{seed.orders:,} orders …",
        flush=True,
    )
    with Sandboxes(workdir, seed, crm_requests_per_second=args.crm_rps) as sandboxes:
        print(f"  commercetools  {sandboxes.commercetools.url}")
        print(f"  CRM One        {sandboxes.crmone.url}   (a read-only page for people: /ui/)")
        print(f"  work directory {workdir}", flush=True)
        write_json(workdir / "source.json", sandboxes.source_config(page_size=args.page_size))
        write_json(
            workdir / "destination.json", sandboxes.destination_config(workdir / "journal.sqlite")
        )
        write_json(workdir / "catalog.json", catalog(workdir, args))
        if args.fault_rate:
            sandboxes.set_faults(args.fault_rate)
        state = StateFile(workdir / "state.json")
        reports = []

        sandboxes.reset_stats()
        first = run_once("Run 1: initial sync", "run1", workdir, state, args.timeout)
        first.requests = sandboxes.request_counts()
        reports.append(first)

        mutation = Mutation(
            args.update_customers, args.delete_customers, args.update_orders, args.cancel_orders
        )
        changes = sandboxes.mutate(mutation)
        sandboxes.reset_stats()
        second = run_once(
            "Run 2: incremental sync from state.json", "run2", workdir, state, args.timeout
        )
        second.requests = sandboxes.request_counts()
        second.changes = changes
        reports.append(second)

        crm, commercetools = sandboxes.crm_dump(), sandboxes.commercetools_dump()
        write_json(workdir / "crm-dump.json", crm)
        write_json(workdir / "commercetools-dump.json", commercetools)
        deleted = changes.get("deleted_customers", [])
        finish(reports, workdir, render_crm_totals(crm, commercetools, deleted))
        if args.serve:
            print(f"\nServing {sandboxes.crmone.url}/ui/ until Ctrl-C …", flush=True)
            threading.Event().wait()
    return 0 if all(report.sync.ok for report in reports) else EXIT_SYNC_FAILED


def run_real(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir / "real"
    private_dir(workdir)
    write_json(workdir / "source.json", _load(args.source_config))
    write_json(workdir / "destination.json", _load(args.destination_config))
    write_json(workdir / "catalog.json", catalog(workdir, args))
    state = StateFile(args.state_file or workdir / "state.json")
    title = "Sync from " + (str(state.path) if state.exists() else "the start (no state yet)")
    report = run_once(title, "sync", workdir, state, args.timeout)
    finish([report], workdir)
    if report.sync.states_echoed:
        print(f"State saved to {state.path}")
    else:
        print(f"No state was echoed: {state.path} is unchanged")
    return 0 if report.sync.ok else EXIT_SYNC_FAILED


def catalog(workdir: Path, args: argparse.Namespace) -> dict[str, object]:
    """The streams the destination uses with its config in `workdir` (`payments` only when
    it writes orders as objects; `--all-streams`: every stream)."""
    streams = None if args.all_streams else used_streams(_load(workdir / "destination.json"))
    return configured_catalog(workdir / "source.json", streams)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def finish(reports: list[RunReport], workdir: Path, closing: str = "") -> None:
    write_json(workdir / "summary.json", [report.as_json() for report in reports])
    print("\n" + render(reports))
    if closing:
        print(closing)
    print(f"Logs, configs, state and journal: {workdir}", flush=True)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the sandboxes and connectors are always stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    try:
        return run_real(args) if args.source_config else run_sandboxes(args)
    except (PipelineError, SandboxError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted: the connectors and sandboxes were stopped", file=sys.stderr)
        return 130


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
