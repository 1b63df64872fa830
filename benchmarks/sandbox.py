"""End to end: a generated month from the export file to the local sandbox on 127.0.0.1.

    python -m benchmarks.sandbox SOURCE.csv

Builds the bodies with the adaptor's own functions (`routes.build_month`, as `routes.py
project`), starts the sandbox (`start_sandbox`) in a temporary folder, sends the month with
`AnyCostClient.submit_month` and prints one JSON line: seconds to build, seconds to send, of
which waiting on the server and of which the server's own handling (storing), bodies and rows,
the row count the sandbox reports for the month, and the server's seconds to answer a read of
the whole month (twice: the first read may prepare what later reads reuse). The client's side
of sending includes reading each body back from disk, checked against its hash, as the drop
does.
"""

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.routes import MONTH, Phases, build_month


def timed_phases() -> dict[str, float]:
    """Thread CPU seconds of the server's steps in storing a drop: reading the body (JSON),
    checking its rows, and storing them (SQLite); patched onto the sandbox's own functions."""
    from anycost_pipeline.cloudzero.sandbox import server
    from anycost_pipeline.cloudzero.sandbox.store import SandboxStore

    spent = {"read JSON": 0.0, "check rows": 0.0, "store": 0.0}

    def timed(name: str, work: Callable) -> Callable:
        def run(*args: object) -> object:
            start = time.thread_time()
            try:
                return work(*args)
            finally:
                spent[name] += time.thread_time() - start

        return run

    reader = "parse_body" if hasattr(server, "parse_body") else "json"
    if reader == "parse_body":
        server.parse_body = timed("read JSON", server.parse_body)  # type: ignore[attr-defined]
    server.body_errors = timed("check rows", server.body_errors)
    SandboxStore.apply = timed("store", SandboxStore.apply)  # type: ignore[method-assign]
    return spent


def timed_handler(handler: type) -> tuple[type, dict[str, float]]:
    """A subclass of the sandbox's request handler that adds up the seconds spent per method."""
    spent = {"POST": 0.0, "GET": 0.0, "POST cpu": 0.0, "GET cpu": 0.0}

    class Timed(handler):  # type: ignore[misc, valid-type]
        def _timed(self, method: str, work: Callable[[], None]) -> None:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                work()
            finally:
                spent[method] += time.perf_counter() - start
                spent[method + " cpu"] += time.thread_time() - cpu

        def do_POST(self) -> None:
            self._timed("POST", super().do_POST)

        def do_GET(self) -> None:
            self._timed("GET", super().do_GET)

    return Timed, spent


def main(argv: list[str] | None = None) -> None:
    source_file = Path((argv or sys.argv[1:])[0])
    started = time.perf_counter()
    from anycost_pipeline.cloudzero.client import AnyCostClient
    from anycost_pipeline.cloudzero.sandbox import start_sandbox
    from anycost_pipeline.delivery import requests_of

    bodies, _, _ = build_month(source_file, Phases())
    built = time.perf_counter()

    waiting = 0.0

    class TimedClient(AnyCostClient):
        """The project's client, noting how long each request waits for the server's answer."""

        def create_billing_drop(
            self, connection_id: str, body: bytes, idempotency_key: str
        ) -> dict:
            nonlocal waiting
            start = time.perf_counter()
            try:
                return super().create_billing_drop(connection_id, body, idempotency_key)
            finally:
                waiting += time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="anycost-bench-sandbox-") as folder:
        phases = timed_phases()
        server = start_sandbox(folder)
        server.RequestHandlerClass, spent = timed_handler(server.RequestHandlerClass)
        client = TimedClient(server.url, "benchmark-key")
        try:
            send_started = time.perf_counter()
            receipt = client.submit_month("benchmark", MONTH, requests_of(bodies))
            sent = time.perf_counter()
            stored, stored_cpu = spent["POST"], spent["POST cpu"]
            ours = client.month_drops("benchmark", MONTH, receipt.bodies[-1].drop_id).ours
            held = ours.row_count if ours else 0
            reads = []
            for _ in range(2):
                before = spent["GET"]
                read = len(client.get_billing_drop("benchmark", MONTH))
                reads.append(round(spent["GET"] - before, 3))
        finally:
            bodies.close()
            client.close()
            server.close()
    print(
        json.dumps(
            {
                "build_seconds": round(built - started, 3),
                "send_seconds": round(sent - send_started, 3),
                "waiting_seconds": round(waiting, 3),
                "client_seconds": round(sent - send_started - waiting, 3),
                "end_to_end_seconds": round(sent - started, 3),
                "bodies": len(receipt.bodies),
                "rows_sent": receipt.rows,
                "bytes_sent": receipt.bytes,
                "rows_held": held,
                "server_store_seconds": round(stored, 3),
                "server_store_cpu_seconds": round(stored_cpu, 3),
                "server_store_phases_cpu": {k: round(v, 3) for k, v in phases.items()},
                "server_read_seconds": reads,
                "rows_read": read,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
