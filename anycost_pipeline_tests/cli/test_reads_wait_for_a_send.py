"""`anycost plan`, and `anycost run` with no month, read what CloudZero holds of every month of
a connection. A run of another process may be sending to that connection at the same moment,
and CloudZero takes one request at a time per connection: the reads wait for the send.

Found by the history campaign (seed 106: a run's drop-list read arrived during another run's
write of the same connection).
"""

import time
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline_tests.cli.live import KEY, anycost, one_csv_project, start_anycost

CSV = "time,service,amount,account\n2024-08-16T10:00:00Z,Compute,5.00,a\n"


def test_plan_waits_while_another_process_sends_to_the_connection(tmp_path: Path) -> None:
    config = one_csv_project(
        tmp_path / "project", CSV, connection_id="conn-reads", cloudzero={"target": "live"}
    )
    # The write is applied, then its answer held 30 s: far longer than `anycost plan` takes to
    # start and read, so its reads arrive during the write unless they wait for it.
    faults = Faults(slow_rate=1.0, slow_seconds=30.0)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        sending = start_anycost(config, server.url, "run", "2024-08")
        try:
            deadline = time.monotonic() + 180  # a safety net only: the run starts, then writes
            while (
                not server.store._db()
                .execute("SELECT COUNT(*) FROM in_flight WHERE held_since IS NOT NULL")
                .fetchone()[0]
            ):
                assert sending.poll() is None and time.monotonic() < deadline, "no write was held"
                time.sleep(0.01)
            planned = anycost(config, server.url, "plan")
        finally:
            sending.wait(timeout=240)
        assert sending.returncode == 0
        assert server.store.overlaps() == []
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert "2024-08  unchanged" in planned.stdout, planned.stdout
        assert (
            "main: another run or command is using conn-reads; reading what CloudZero holds once"
            in (planned.stderr)
        )
