"""Acceptance: large months arrive exactly, in bodies within the limit, despite injected faults."""

import time
from pathlib import Path

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import MAX_BYTES, content_hash, month_bodies
from anycost_pipeline.cbf.validation import cost_total
from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, REQUESTS, Faults
from anycost_pipeline.cloudzero.submit import SubmissionLedger, send_month
from anycost_pipeline_tests.cloudzero.synthetic import (
    held_cost_total,
    held_rows,
    same_rows,
    synthetic_month,
)

KEY = "large-month-key"
MONTH = "2024-08"


def _send(url: str, tmp_path: Path, bodies, *, retries: int = 10) -> object:  # type: ignore[no-untyped-def]
    client = AnyCostClient(url, KEY, retries=retries, backoff=0.01)
    return send_month(
        client,
        "conn-1",
        MONTH,
        [(b.operation, b.payload, b.rows) for b in bodies],
        content_hash(bodies),
        lock_folder=tmp_path / "locks",
        ledger=SubmissionLedger(tmp_path / "submissions"),
        destination="d",
    )


def test_a_million_row_month_arrives_exactly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    started = time.monotonic()
    frame = synthetic_month(1_000_000)
    bodies = month_bodies(frame, MONTH)
    cut = time.monotonic()
    assert len(bodies) > 1 and all(len(b.payload) <= 4_500_000 <= MAX_BYTES for b in bodies)
    assert [b.operation for b in bodies] == ["replace_drop"] + ["replace_hourly"] * (
        len(bodies) - 1
    )
    assert all(a.last_hour < b.first_hour for a, b in zip(bodies, bodies[1:]))  # no hour split
    with start_sandbox(tmp_path / "sandbox", api_key=KEY) as server:
        outcome = _send(server.url, tmp_path, bodies)
        sent = time.monotonic()
        assert outcome.reported_rows == 1_000_000
        held = held_rows(server.store, "conn-1", MONTH)
        assert same_rows(held, frame)
        assert held_cost_total(held) == cost_total(frame)
        assert server.stats()[CONCURRENT] == 0
    with capsys.disabled():
        print(
            f"\n1,000,000 rows: generate+cut {cut - started:.1f} s into {len(bodies)} bodies "
            f"(largest {max(len(b.payload) for b in bodies):,} bytes), send {sent - cut:.1f} s, "
            f"compare {time.monotonic() - sent:.1f} s"
        )


def test_faults_do_not_change_what_arrives(tmp_path: Path) -> None:
    """20 % of writes answered 503 and 5 % applied with the answer lost: the month is still exact."""
    frame = synthetic_month(200_000)
    bodies = month_bodies(frame, MONTH, target_bytes=500_000)
    faults = Faults(error_rate=0.2, lost_rate=0.05, seed=2024)
    with start_sandbox(tmp_path / "sandbox", api_key=KEY, faults=faults) as server:
        outcome = _send(server.url, tmp_path, bodies)
        assert outcome.reported_rows == 200_000
        assert server.stats()[REQUESTS] > len(bodies) + 2  # faults happened and were retried
        held = held_rows(server.store, "conn-1", MONTH)
        assert same_rows(held, frame) and held_cost_total(held) == cost_total(frame)
        assert server.stats()[CONCURRENT] == 0


def test_sending_again_after_a_failure_mid_month_ends_exactly_right(tmp_path: Path) -> None:
    old, new = synthetic_month(60_000, seed=1), synthetic_month(80_000, seed=2)
    with start_sandbox(tmp_path / "sandbox", api_key=KEY) as server:
        _send(server.url, tmp_path, month_bodies(old, MONTH, target_bytes=500_000))
    new_bodies = month_bodies(new, MONTH, target_bytes=500_000)
    # Without retries, the first injected fault stops the submission part way through.
    with start_sandbox(
        tmp_path / "sandbox", api_key=KEY, faults=Faults(error_rate=0.2, seed=5)
    ) as failing:
        with pytest.raises(CloudZeroError, match="HTTP 503"):
            _send(failing.url, tmp_path, new_bodies, retries=0)
        half = held_rows(failing.store, "conn-1", MONTH)
        assert 0 < half.len() and not same_rows(half, new) and not same_rows(half, old)
    with start_sandbox(
        tmp_path / "sandbox", api_key=KEY, faults=Faults(error_rate=0.2, lost_rate=0.05, seed=6)
    ) as server:
        assert _send(server.url, tmp_path, new_bodies).status == "sent"
        held = held_rows(server.store, "conn-1", MONTH)
        assert same_rows(held, new) and held_cost_total(held) == cost_total(new)
        assert server.stats()[CONCURRENT] == 0


def test_a_month_with_an_hour_larger_than_a_body_arrives_exactly_each_time(tmp_path: Path) -> None:
    """An hour too big for one body goes as replace_hourly then sum; sending again replaces it."""
    with start_sandbox(tmp_path / "sandbox", api_key=KEY) as server:
        for seed in (1, 2):
            frame = synthetic_month(20_000, seed=seed)
            crowded = frame.with_columns(
                pl.when(pl.int_range(pl.len()) < 6_000)
                .then(pl.lit("2024-08-05T10:00:00Z"))
                .otherwise(pl.col("time/usage_start"))
                .alias("time/usage_start")
            )
            bodies = month_bodies(crowded, MONTH, target_bytes=300_000)
            assert "sum" in {b.operation for b in bodies}
            _send(server.url, tmp_path, bodies)
            held = held_rows(server.store, "conn-1", MONTH)
            assert same_rows(held, crowded) and held_cost_total(held) == cost_total(crowded)
