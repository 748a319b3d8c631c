"""`python -m sandbox.crmone --port 8082 --rps 20 --latency-ms 0 --fault-rate 0 [--state-file F]
[--order-property payment_method] [--shipping-properties]`.

Prints one line `READY http://127.0.0.1:PORT` once listening, serves until SIGTERM/SIGINT.
"""

import argparse
import signal
import sys
import threading
from pathlib import Path

from sandbox.crmone import CrmOneSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CRM One API sandbox (loopback only)")
    parser.add_argument("--port", type=int, default=8082, help="0 picks a free port")
    parser.add_argument("--rps", type=int, default=20, help="requests per second limit")
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--batch-max", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--token-ttl", type=int, default=3600, help="seconds")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--stores", default="eu-web,us-web", help="comma-separated store keys")
    parser.add_argument("--client-id", default="crmone-client")
    parser.add_argument("--client-secret", default="crmone-secret")
    parser.add_argument(
        "--order-property",
        action="append",
        default=[],
        metavar="NAME[:TYPE]",
        help="an extra property of the orders object type (e.g. payment_method); repeatable",
    )
    parser.add_argument(
        "--shipping-properties",
        action="store_true",
        help="the tenant has shipping_street, shipping_postal_code, shipping_city, "
        "shipping_region and shipping_country",
    )
    parser.add_argument(
        "--state-file", help="JSON file: loaded at start when it exists, written on stop"
    )
    args = parser.parse_args(argv)
    sandbox = CrmOneSandbox(
        client_id=args.client_id,
        client_secret=args.client_secret,
        tenant=args.tenant,
        stores=tuple(s.strip() for s in args.stores.split(",") if s.strip()),
        batch_max=args.batch_max,
        requests_per_second=args.rps,
        max_concurrency=args.max_concurrency,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        port=args.port,
        token_ttl=args.token_ttl,
        shipping_properties=args.shipping_properties,
    )
    for extra in args.order_property:
        name, _, type_name = extra.partition(":")
        sandbox.add_object_property("orders", name, type_name or "string")
    if args.state_file and Path(args.state_file).exists():
        sandbox.load_state(args.state_file)
    sandbox.start()
    print(f"READY {sandbox.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    if args.state_file:
        sandbox.save_state(args.state_file)
    sys.exit(0)


if __name__ == "__main__":
    main()
