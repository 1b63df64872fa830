"""send_month: limits, unchanged months, row-count check, and one submission at a time."""

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from anycost_pipeline.cbf.bodies import content_hash, month_bodies
from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.errors import MonthOverLimit
from anycost_pipeline.cloudzero.sandbox import SandboxServer, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, REQUESTS, Faults
from anycost_pipeline.cloudzero.submit import (
    SENT,
    UNCHANGED,
    Limits,
    RowCountMismatch,
    SubmissionLedger,
    send_month,
)
from anycost_pipeline_tests.cloudzero.synthetic import synthetic_month

KEY = "submit-test-key"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path / "sandbox", api_key=KEY) as running:
        yield running


def _send(
    server: SandboxServer, tmp_path: Path, frame, month: str = "2024-08", **options
) -> object:
    bodies = month_bodies(frame, month, target_bytes=options.pop("target_bytes", 4_500_000))
    client = AnyCostClient(server.url, KEY, retries=options.pop("retries", 5), backoff=0.01)
    return send_month(
        client,
        "conn-1",
        month,
        [(b.operation, b.payload, b.rows) for b in bodies],
        content_hash(bodies),
        lock_folder=tmp_path / "locks",
        ledger=SubmissionLedger(tmp_path / "submissions"),
        destination="sandbox-under-test",
        **options,
    )


def test_an_unchanged_month_is_not_sent_again(server: SandboxServer, tmp_path: Path) -> None:
    frame = synthetic_month(1000)
    first = _send(server, tmp_path, frame)
    requests_after_first = server.stats()[REQUESTS]
    again = _send(server, tmp_path, frame)
    assert (first.status, again.status) == (SENT, UNCHANGED)
    assert again.submission is None and again.previous["drop_ids"] == [
        b.drop_id for b in first.submission.bodies
    ]
    assert server.stats()[REQUESTS] == requests_after_first + 1  # only the drop list was read
    forced = _send(server, tmp_path, frame, force=True)
    assert forced.status == SENT
    changed = frame.with_columns(frame["cost/cost"].scatter(0, "9.999999"))
    assert _send(server, tmp_path, changed).status == SENT
    assert server.store.month_rows("conn-1", "2024-08")[0]["cost/cost"] == "9.999999"


def test_a_month_cloudzero_no_longer_holds_is_sent_again(
    server: SandboxServer, tmp_path: Path
) -> None:
    frame = synthetic_month(100)
    _send(server, tmp_path, frame)
    server.store._db().execute("DELETE FROM cbf_rows")  # e.g. the month was deleted in CloudZero
    assert _send(server, tmp_path, frame).status == SENT
    assert len(server.store.month_rows("conn-1", "2024-08")) == 100


def test_a_month_over_the_limits_is_refused_before_sending(
    server: SandboxServer, tmp_path: Path
) -> None:
    frame = synthetic_month(1500)
    with pytest.raises(MonthOverLimit) as caught:
        _send(server, tmp_path, frame, limits=Limits(rows_per_month=1000, bytes_per_month=10_000))
    text = str(caught.value)
    assert "2024-08 has 1,500 rows, 500 over the limit of 1,000 rows" in text
    assert "over the limit of 10,000 bytes" in text and "cloudzero.limits" in text
    assert server.stats()[REQUESTS] == 0


def test_a_row_count_cloudzero_disagrees_with_fails_with_both_numbers(
    server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        AnyCostClient,
        "list_billing_drops",
        lambda self, cid: [{"drop_id": "d", "month": "2024-08", "row_count": 7}],
    )
    with pytest.raises(
        RowCountMismatch,
        match=r"CloudZero accepted the 1 body of 2024-08 \(100 rows, .* on connection conn-1, but "
        r"CloudZero reports 7 rows for it where 100 were sent \(its newest drop for the month is "
        r"d, not sandbox-.*\). The data was sent.",
    ):
        _send(server, tmp_path, synthetic_month(100))
    # Recorded as accepted but not confirmed: the next run knows the data went out.
    record = SubmissionLedger(tmp_path / "submissions").last(
        "sandbox-under-test", "conn-1", "2024-08"
    )
    assert record is not None and record["state"] == "unconfirmed" and record["rows"] == 100


def _worker(url: str, folder: str, month: str, use_lock: bool, barrier) -> None:  # type: ignore[no-untyped-def]
    frame = synthetic_month(3000, month)
    bodies = month_bodies(frame, month, target_bytes=150_000)
    client = AnyCostClient(url, KEY, retries=20, backoff=0.05)
    barrier.wait()
    pieces = [(b.operation, b.payload, b.rows) for b in bodies]
    if use_lock:
        send_month(
            client,
            "conn-1",
            month,
            pieces,
            content_hash(bodies),
            lock_folder=Path(folder) / "locks",
            ledger=SubmissionLedger(Path(folder) / "submissions"),
            destination="d",
        )
    else:
        client.submit_month("conn-1", month, pieces)


@pytest.mark.parametrize("use_lock", [True, False], ids=["with_lock", "without_lock"])
def test_the_connection_lock_keeps_processes_apart(tmp_path: Path, use_lock: bool) -> None:
    """Three processes send three months to one connection at the same moment.

    With the lock the sandbox never sees two requests at once; without it, it does (which
    shows the test can tell the difference).
    """
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(3)
    with start_sandbox(tmp_path / "sandbox", api_key=KEY, faults=Faults(delay=0.15)) as server:
        workers = [
            spawn.Process(
                target=_worker, args=(server.url, str(tmp_path), month, use_lock, barrier)
            )
            for month in ("2024-06", "2024-07", "2024-08")
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0, 0]
        for month in ("2024-06", "2024-07", "2024-08"):
            assert len(server.store.month_row_texts("conn-1", month)) == 3000
        if use_lock:
            assert server.stats()[CONCURRENT] == 0
        else:
            assert server.stats()[CONCURRENT] > 0


def test_a_body_that_cannot_be_read_back_stops_the_month_as_partly_sent(
    server: SandboxServer, tmp_path: Path
) -> None:
    """Bodies are kept on disk between planning and sending; if one no longer reads back as
    planned, it is not sent, and the words say what CloudZero holds: the bodies before it."""
    import os

    from anycost_pipeline.cbf.bodies import plan_bodies
    from anycost_pipeline.cloudzero.submit import PARTLY_SENT, DeliveryFailed
    from anycost_pipeline.delivery import requests_of

    frame = synthetic_month(3000)
    bodies = plan_bodies(frame, "2024-08", operation="replace_hourly", target_bytes=200_000)
    assert len(bodies) >= 3
    second = bodies.planned[1]
    fd, at = bodies._spool.fileno(), second.offset + second.bytes // 2
    os.pwrite(fd, b"1" if os.pread(fd, 1, at) == b"0" else b"0", at)
    requests = requests_of(bodies)  # as drop/<connection> sends them
    client = AnyCostClient(server.url, KEY, retries=1, backoff=0.01)
    ledger = SubmissionLedger(tmp_path / "submissions")
    with pytest.raises(DeliveryFailed) as failed:
        send_month(
            client,
            "conn-1",
            "2024-08",
            requests,
            bodies.content_hash,
            lock_folder=tmp_path / "locks",
            ledger=ledger,
            destination="sandbox-under-test",
        )
    assert failed.value.state == PARTLY_SENT
    words = str(failed.value)
    assert f"accepted 1 of {len(bodies)} bodies" in words and "before body 2 failed" in words
    assert "No answer from CloudZero" not in words and "it was not sent" in words
    (held,) = server.store.drops("conn-1")
    assert held["row_count"] == bodies.planned[0].cut.rows  # body 1 only
    assert ledger.entry("sandbox-under-test", "conn-1", "2024-08").state == "stopped"
    # Run again: the month is planned afresh and the rest of it goes out.
    again = _send(server, tmp_path, frame, target_bytes=200_000)
    assert again.status == SENT
