"""`python -m sandbox.crmone --port 8082 --rps 20`."""

import argparse
import signal
import threading

from sandbox.crmone import CrmOneSandbox


def main() -> None:
    parser = argparse.ArgumentParser(description="CRM One API sandbox (loopback only)")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--rps", type=int, default=20, help="requests per second limit")
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--batch-max", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    sandbox = CrmOneSandbox(
        port=args.port,
        requests_per_second=args.rps,
        max_concurrency=args.max_concurrency,
        batch_max=args.batch_max,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
    ).start()
    print(f"READY {sandbox.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()


if __name__ == "__main__":
    main()
