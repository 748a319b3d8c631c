"""`python -m sandbox.commercetools --port 8081 --customers 2000 --orders 6000`.

Prints one line, `READY http://127.0.0.1:PORT`, once it listens (`--port 0` picks a free
port), then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec


def _client(text: str) -> tuple[str, tuple[str, list[str]]]:
    client_id, secret, scopes = text.split(":", 2)
    return client_id, (secret, scopes.split(","))


def main(argv: list[str] | None = None) -> None:
    defaults = SeedSpec()
    parser = argparse.ArgumentParser(description="commercetools API sandbox (loopback only)")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--project-key", default="demo")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--guest-order-share", type=float, default=defaults.guest_order_share)
    parser.add_argument("--stores", default=",".join(defaults.stores), help="comma-separated")
    parser.add_argument(
        "--shared-timestamp-share", type=float, default=defaults.shared_timestamp_share
    )
    parser.add_argument("--bad-customers", type=int, default=defaults.bad_customers)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-messages", action="store_true", help="messages disabled")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before each answer")
    parser.add_argument(
        "--visibility-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="writes become visible to queries after a random delay up to this",
    )
    parser.add_argument(
        "--client",
        action="append",
        type=_client,
        default=[],
        metavar="ID:SECRET:SCOPE,SCOPE",
        help="an extra API client (repeatable)",
    )
    args = parser.parse_args(argv)
    spec = SeedSpec(
        customers=args.customers,
        orders=args.orders,
        guest_order_share=args.guest_order_share,
        stores=tuple(s.strip() for s in args.stores.split(",") if s.strip()),
        shared_timestamp_share=args.shared_timestamp_share,
        bad_customers=args.bad_customers,
        seed=args.seed,
        messages_enabled=not args.no_messages,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = CommercetoolsSandbox(
        args.project_key,
        clients=dict(args.client),
        seed=spec,
        port=args.port,
        fault_rate=args.fault_rate,
        latency_ms=args.latency_ms,
        visibility_delay_s=args.visibility_delay,
    ).start()
    print(f"READY {sandbox.url}", flush=True)
    try:
        stop.wait()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
