"""Run the sandbox server: python -m anycost_pipeline.cloudzero.sandbox --port 8765."""

import argparse
import logging
import time
from typing import get_args

from anycost_pipeline.cloudzero.sandbox.reference import MONTH_FORMS
from anycost_pipeline.cloudzero.sandbox.server import Answers, Faults, Listing, start_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Local stand-in for CloudZero's AnyCost Stream API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--storage", default=".anycost/sandbox", help="folder for the SQLite state")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    answers = parser.add_argument_group("answers")
    answers.add_argument(
        "--month-form",
        choices=list(MONTH_FORMS),
        default="datetime",
        help="how answers spell a month (datetime: 2024-08-01T00:00:00Z, fraction: "
        "2024-08-01T00:00:00.000Z, offset: 2024-08-01T00:00:00+00:00, short: 2024-08)",
    )
    answers.add_argument(
        "--listing",
        choices=list(get_args(Listing)),
        default="month",
        help="drop list: one entry per month (month) or one per accepted drop (drops)",
    )
    faults = parser.add_argument_group("injected faults (all off by default)")
    faults.add_argument(
        "--error-rate", type=float, default=0.0, help="share of writes answered 503"
    )
    faults.add_argument(
        "--lost-rate", type=float, default=0.0, help="share of writes applied, answer lost"
    )
    faults.add_argument("--delay", type=float, default=0.0, help="seconds before answering a write")
    faults.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        help="share of writes answered 429 with Retry-After, not applied",
    )
    faults.add_argument(
        "--retry-after", type=int, default=1, help="Retry-After seconds of an injected 429"
    )
    faults.add_argument(
        "--slow-rate",
        type=float,
        default=0.0,
        help="share of writes applied, then answered only after --slow-seconds",
    )
    faults.add_argument(
        "--slow-seconds",
        type=float,
        default=5.0,
        help="how long a slow write holds its answer and the connection",
    )
    faults.add_argument(
        "--read-error-rate", type=float, default=0.0, help="share of reads (GET) answered 503"
    )
    faults.add_argument(
        "--seed", type=int, default=None, help="seed for the injected faults (repeatable runs)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        chosen_faults = Faults(
            error_rate=args.error_rate,
            lost_rate=args.lost_rate,
            delay=args.delay,
            seed=args.seed,
            throttle_rate=args.throttle_rate,
            retry_after_seconds=args.retry_after,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            read_error_rate=args.read_error_rate,
        )
    except ValueError as error:
        parser.error(str(error))
    server = start_sandbox(
        args.storage,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        faults=chosen_faults,
        answers=Answers(month_form=args.month_form, listing=args.listing),
    )
    print(f"CloudZero sandbox listening on {server.url} (state in {server.store.path})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
