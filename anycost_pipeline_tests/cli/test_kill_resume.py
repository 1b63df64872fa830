"""`anycost run` killed (SIGKILL) after body k of a 5-body month, then run again.

Whatever the connection's operation, the second run leaves CloudZero holding exactly the
source's month: `replace_drop` sends it whole again from body 1, `sum` and `replace_hourly`
continue after the bodies the journal says CloudZero acknowledged, under the same idempotency
keys, so a body that was applied but not acknowledged is not applied twice.
"""

import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, Faults
from anycost_pipeline_tests.cli.live import ANYCOST, KEY, anycost, environment, one_csv_project

CONNECTION_ID = "conn-kill"
HOURS, ROWS_PER_HOUR = 5, 40


def five_body_project(root: Path, operation: str) -> tuple[Path, Decimal]:
    """Five hours of 40 rows, each hour its own request body; returns the config and total."""
    lines, total = ["time,service,amount,account"], Decimal(0)
    for hour in range(HOURS):
        for row in range(ROWS_PER_HOUR):
            amount = f"{'-' if row % 9 == 0 else ''}{hour}.{row * 7919 % 10**6:06d}"
            total += Decimal(amount)
            lines.append(f"2024-08-16T{10 + hour:02d}:00:00Z,svc-{row % 3},{amount},acct-{row}")
    cloudzero = {"target": "live", "limits": {"body_bytes": 7_000}}
    csv = "\n".join(lines) + "\n"
    config = one_csv_project(
        root, csv, connection_id=CONNECTION_ID, cloudzero=cloudzero, operation=operation
    )
    return config, total


def _wait_for_drops(server: object, run: subprocess.Popen, count: int, log: Path) -> None:
    """Until CloudZero has applied `count` bodies of the run (which must not end before)."""
    deadline = time.monotonic() + 120  # a safety net only
    while len(server.store.drop_history(CONNECTION_ID)) < count:  # type: ignore[attr-defined]
        assert run.poll() is None, f"the run ended before it was killed:\n{log.read_text()}"
        assert time.monotonic() < deadline, "the run sent too few bodies in time"
        time.sleep(0.005)


@pytest.mark.parametrize("operation", ["replace_drop", "replace_hourly", "sum"])
@pytest.mark.parametrize("killed_after", [2, 5])
def test_a_run_killed_after_body_k_is_made_exact_by_the_next_run(
    tmp_path: Path, operation: str, killed_after: int
) -> None:
    config, total = five_body_project(tmp_path / "project", operation)
    # Every write is applied, then its answer held 0.5 s: once body k-1 is seen applied, body
    # k's answer is held 2 s, and the run is killed while it waits to hear that body k was
    # applied, however busy the machine. (Killing "soon after" body k was a race on a busy
    # machine: after body 5 the run could confirm the month and end first, and the next run
    # then found it unchanged; and a fixed 0.5 s was left for the write in flight to finish.)
    faults = Faults(slow_rate=1.0, slow_seconds=0.5)
    log = tmp_path / "killed-run.log"  # what the killed run said, should it end by itself
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server, log.open("w") as out:
        run = subprocess.Popen(
            [ANYCOST, "run", "2024-08"],
            cwd=config.parent,
            env=environment(config, server.url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _wait_for_drops(server, run, killed_after - 1, log)
        server.faults.slow_seconds = 2.0
        _wait_for_drops(server, run, killed_after, log)
        run.kill()
        run.wait()
        # The held write finishes on the server (waited for, not guessed at): until then
        # CloudZero refuses the next run's first request as concurrent.
        give_up = time.monotonic() + 60  # a safety net only: the answer is held for 2 s
        while server.store._db().execute("SELECT COUNT(*) FROM in_flight").fetchone()[0]:
            assert time.monotonic() < give_up, "the held write never finished"
            time.sleep(0.01)
        server.faults.slow_rate = 0.0

        again = anycost(config, server.url, "run", "2024-08")
        words = again.stdout + again.stderr
        assert again.returncode == 0, words
        assert "2024-08: sent" in words
        if operation == "sum":  # what CloudZero gained in this run, not the whole submission
            assert "Added the remaining" in " ".join(words.split()), words
        rows = server.store.month_rows(CONNECTION_ID, "2024-08")
        assert len(rows) == HOURS * ROWS_PER_HOUR, words
        assert sum(Decimal(r["cost/cost"]) for r in rows) == total
        assert server.stats()[CONCURRENT] == 0
        assert len(server.store.drop_history(CONNECTION_ID)) >= HOURS

        unchanged = anycost(config, server.url, "run", "2024-08")
        assert "2024-08: unchanged" in unchanged.stdout, unchanged.stdout + unchanged.stderr
        assert len(server.store.month_rows(CONNECTION_ID, "2024-08")) == HOURS * ROWS_PER_HOUR
