"""Destination figures: `destination-crmone write` against a minimal raw client, same run.

Both write the same customers into a fresh CRM One sandbox with the same latency and the same
`requests_per_second`:

- the connector: the real console script, a subprocess, its start-up included;
- the raw client: the least a correct client must do — a token, then for each 100 customers one
  `contacts/batch/upsert` and one `consents/batch`, up to 8 in flight, paced to the same rate.
  No validation, no journal, no ownership rules, no idempotency bookkeeping.

Then the connector again with the same input (nothing changed: what a re-send costs), and the
CPU the connector spends mapping and validating one contact, measured in-process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import requests

from sandbox.crmone import CrmOneSandbox

VENV_BIN = Path(sys.executable).parent
BATCH = 100
IN_FLIGHT = 8


def crm_sandbox(latency_ms: int, rate: int) -> CrmOneSandbox:
    return CrmOneSandbox(latency_ms=latency_ms, requests_per_second=rate, max_concurrency=8)


def destination_config(crm: CrmOneSandbox, journal: Path) -> dict[str, Any]:
    return crm.destination_config(str(journal), concurrency=IN_FLIGHT)


def run_connector(folder: Path, crm: CrmOneSandbox, lines: bytes, catalog: str) -> float:
    config = folder / "destination.json"
    config.write_bytes(orjson.dumps(destination_config(crm, folder / "journal.db")))
    command = [str(VENV_BIN / "destination-crmone"), "write", "--config", str(config)]
    started = time.perf_counter()
    subprocess.run([*command, "--catalog", catalog], input=lines, capture_output=True, check=True)
    return time.perf_counter() - started


class Spacing:
    """The raw client's pacing: one request start every 1/rate seconds."""

    def __init__(self, rate: int) -> None:
        self.interval, self.next, self.lock = 1.0 / rate, 0.0, threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        time.sleep(max(0.0, start - now))


CONSENT_FIELDS = (("newsletterOptIn", "email"), ("smsOptIn", "sms"))


def raw_contact(customer: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The contact and its consents (the connector's default mappings), with no checks."""
    address = (customer.get("addresses") or [{}])[0]
    properties = {
        "email": (customer.get("email") or "").lower() or None,
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
        "city": address.get("city"),
        "postal_code": address.get("postalCode"),
        "country": address.get("country"),
    }
    contact = {"external_id": customer["id"], "properties": properties}
    fields = (customer.get("custom") or {}).get("fields") or {}
    consents = [
        {
            "contact_external_id": customer["id"],
            "channel": channel,
            "purpose": "marketing",
            "status": "granted" if fields[flag] else "withdrawn",
            "updated_at": fields.get(f"{flag}At") or customer["lastModifiedAt"],
            "source": "commercetools",
        }
        for flag, channel in CONSENT_FIELDS
        if flag in fields
    ]
    return contact, consents


def run_raw_client(crm: CrmOneSandbox, customers: list[dict[str, Any]], rate: int) -> float:
    started = time.perf_counter()
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=IN_FLIGHT))
    spacing = Spacing(rate)
    spacing.wait()
    token = session.post(
        f"{crm.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(path: str, body: dict[str, Any], key: str) -> None:
        while True:
            spacing.wait()
            response = session.post(
                f"{crm.url}{path}",
                data=orjson.dumps(body),
                headers={**headers, "Idempotency-Key": key},
            )
            if response.status_code == 200:
                return
            time.sleep(float(response.headers.get("Retry-After", "1")))

    def send(index: int, group: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        contacts = [contact for contact, _ in group]
        post(
            "/v1/contacts/batch/upsert",
            {"id_property": "external_id", "records": contacts},
            f"raw-c-{index}",
        )
        consents = [consent for _, consents in group for consent in consents]
        if consents:
            post("/v1/consents/batch", {"records": consents}, f"raw-k-{index}")

    groups = batches([raw_contact(customer) for customer in customers])
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        for future in [pool.submit(send, i, group) for i, group in enumerate(groups)]:
            future.result()
    return time.perf_counter() - started


def batches(
    pairs: list[tuple[dict[str, Any], list[dict[str, Any]]]],
) -> list[list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """Groups of at most 100 contacts whose consents fit one call of at most 100."""
    groups: list[list[tuple[dict[str, Any], list[dict[str, Any]]]]] = [[]]
    consents = 0
    for contact, its_consents in pairs:
        if len(groups[-1]) == BATCH or consents + len(its_consents) > BATCH:
            groups.append([])
            consents = 0
        groups[-1].append((contact, its_consents))
        consents += len(its_consents)
    return [group for group in groups if group]


def chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def mapping_cpu(customers: list[dict[str, Any]], crm: CrmOneSandbox, folder: Path) -> float:
    """Microseconds of CPU per contact for map + validate + digest (`contacts.plan.map_contacts`),
    with a fresh schema (whose definitions remember validation outcomes), as in a new run."""
    from destination_crmone.config import DestinationConfig
    from destination_crmone.contacts.plan import map_contacts
    from destination_crmone.crmone import validate
    from destination_crmone.delivery.context import Pending
    from destination_crmone.destination import make_client

    config = DestinationConfig.parse_config(destination_config(crm, folder / "cpu.db"))
    schema = validate.ContactSchema.from_api(make_client(config).contact_schema())
    items = [Pending("customers", customer) for customer in customers]
    started = time.process_time()
    for chunk in chunks(items):
        map_contacts(chunk, config, schema, crm.url)
    return (time.process_time() - started) * 1e6 / len(items)


def bench_destination(
    folder: Path, messages: list[dict[str, Any]], catalog: str, latency_ms: int, rate: int
) -> dict[str, Any]:
    records = [m for m in messages if m["type"] == "RECORD"]
    customers = [m["record"]["data"] for m in records]
    lines = b"\n".join(orjson.dumps(m) for m in messages if m["type"] in ("RECORD", "STATE"))
    with crm_sandbox(latency_ms, rate) as crm:
        first_seconds = run_connector(folder, crm, lines, catalog)
        first = crm.stats()
        crm.reset_stats()
        again_seconds = run_connector(folder, crm, lines, catalog)
        again = crm.stats()
        cpu_us = mapping_cpu(customers, crm, folder)
    with crm_sandbox(latency_ms, rate) as crm:
        raw_seconds = run_raw_client(crm, customers, rate)
        raw = crm.stats()
    count = len(customers)
    return {
        "contacts": count,
        "latency_ms": latency_ms,
        "requests_per_second": rate,
        "connector_seconds": round(first_seconds, 2),
        "connector_contacts_per_second": round(count / first_seconds, 1),
        "raw_seconds": round(raw_seconds, 2),
        "raw_contacts_per_second": round(count / raw_seconds, 1),
        "connector_over_raw_throughput": round(raw_seconds / first_seconds, 2),
        "requests_per_1000_first_load": round(first["total"] * 1000 / count, 1),
        "raw_requests_per_1000": round(raw["total"] * 1000 / count, 1),
        "requests_per_1000_resend": round(again["total"] * 1000 / count, 2),
        "resend_seconds": round(again_seconds, 2),
        "connector_429": first["rate_limit_429"] + first["concurrency_429"],
        "raw_429": raw["rate_limit_429"] + raw["concurrency_429"],
        "mapping_cpu_us_per_contact": round(cpu_us, 1),
    }


def summary(figures: dict[str, Any]) -> str:
    f = figures
    return "\n".join(
        [
            f"destination: {f['contacts']} customers at {f['latency_ms']} ms latency and "
            f"{f['requests_per_second']} req/s",
            f"  connector {f['connector_contacts_per_second']} contacts/s "
            f"({f['connector_seconds']} s, start-up included), raw client "
            f"{f['raw_contacts_per_second']} contacts/s ({f['raw_seconds']} s) -> ratio "
            f"{f['connector_over_raw_throughput']}",
            f"  requests per 1,000 contacts: first load {f['requests_per_1000_first_load']} "
            f"(raw {f['raw_requests_per_1000']}), re-send unchanged "
            f"{f['requests_per_1000_resend']} ({f['resend_seconds']} s); 429s: connector "
            f"{f['connector_429']}, raw {f['raw_429']}",
            f"  mapping + validation: {f['mapping_cpu_us_per_contact']} us CPU per contact",
        ]
    )


def main() -> None:
    """`python -m bench.destination`: only the destination figures."""
    import argparse
    import json
    import tempfile

    from bench.__main__ import bench_destination as with_source_records

    parser = argparse.ArgumentParser(description="destination figures only")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--rate", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = with_source_records(Path(tmp), args.contacts, args.latency_ms, args.rate)
    print(summary(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
