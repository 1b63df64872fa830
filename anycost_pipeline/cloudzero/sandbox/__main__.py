"""Run the sandbox server: python -m anycost_pipeline.cloudzero.sandbox --port 8765."""

import argparse
import logging
import time

from anycost_pipeline.cloudzero.sandbox.server import Faults, start_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Local stand-in for CloudZero's AnyCost Stream API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--storage", default=".anycost/sandbox", help="folder for the SQLite state")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of writes answered 503"
    )
    parser.add_argument(
        "--lost-rate", type=float, default=0.0, help="share of writes applied, answer lost"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering a write")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for the injected faults (repeatable runs)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    faults = Faults(args.error_rate, args.lost_rate, args.delay, args.seed)
    server = start_sandbox(
        args.storage, host=args.host, port=args.port, api_key=args.api_key, faults=faults
    )
    print(f"CloudZero sandbox listening on {server.url} (state in {server.store.path})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
