"""End to end: a generated month from the export file to the local sandbox on 127.0.0.1.

    python -m benchmarks.sandbox SOURCE.csv

Builds the bodies with the adaptor's own functions (`routes.build_month`, as `routes.py project`), starts the
sandbox (`start_sandbox`) in a temporary folder, sends the month with `AnyCostClient.submit_month`
and prints one JSON line: seconds to build, seconds to send, of which waiting on the server,
bodies and rows, and the row count the sandbox reports for the month.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.routes import MONTH, Phases, build_month


def main(argv: list[str] | None = None) -> None:
    source_file = Path((argv or sys.argv[1:])[0])
    started = time.perf_counter()
    from anycost_pipeline.cloudzero.client import AnyCostClient
    from anycost_pipeline.cloudzero.sandbox import start_sandbox

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
        server = start_sandbox(folder)
        client = TimedClient(server.url, "benchmark-key")
        try:
            send_started = time.perf_counter()
            receipt = client.submit_month(
                "benchmark", MONTH, [(b.operation, b.payload, b.rows) for b in bodies]
            )
            sent = time.perf_counter()
            ours = client.month_drops("benchmark", MONTH, receipt.bodies[-1].drop_id).ours
            held = ours.row_count if ours else 0
        finally:
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
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
