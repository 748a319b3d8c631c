"""`python -m sandbox.commercetools --port 8081 --customers 2000 --orders 6000`."""

import argparse
import signal
import sys
import threading

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec


def main() -> None:
    parser = argparse.ArgumentParser(description="commercetools API sandbox (loopback only)")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--project-key", default="demo")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--bad-customers", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    seed = SeedSpec(
        customers=args.customers,
        orders=args.orders,
        bad_customers=args.bad_customers,
        seed=args.seed,
    )
    sandbox = CommercetoolsSandbox(
        args.project_key, seed=seed, port=args.port, fault_rate=args.fault_rate
    ).start()
    print(f"READY {sandbox.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
