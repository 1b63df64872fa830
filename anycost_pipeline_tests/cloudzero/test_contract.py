"""The client against a server that answers as CloudZero's API reference documents.

The sandbox answers in every form the reference allows (months as ISO date-times with or
without fractions and offsets, one drop-list entry per month or per drop) and injects the
faults CloudZero may show (503, 429 with Retry-After, lost and slow answers, failing reads).
Each test asserts what the user relies on: the month arrives exactly, no two requests are ever
in flight on one connection, and the words say what happened.
"""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from anycost_pipeline.cbf.bodies import content_hash, month_bodies
from anycost_pipeline.cloudzero.answers import month_of
from anycost_pipeline.cloudzero.client import AnyCostClient, clean_key
from anycost_pipeline.cloudzero.errors import ServerUnavailable
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, REQUESTS, Answers, Faults
from anycost_pipeline.cloudzero.submit import (
    MAYBE_SENT,
    NOTHING_SENT,
    SENT,
    SENT_UNCONFIRMED,
    UNCHANGED,
    DeliveryFailed,
    SubmissionLedger,
    send_month,
)

KEY = "contract-key-1b9f"
MONTH = "2024-08"
FORMS = [
    Answers(),
    Answers(month_form="fraction"),
    Answers(month_form="offset"),
    Answers(month_form="short"),
    Answers(listing="drops"),
    Answers(month_form="offset", listing="drops"),
]
FORM_IDS = ["datetime", "fraction", "offset", "short", "per-drop", "offset-per-drop"]


def month_frame(rows: int, hours: int = 240) -> pl.DataFrame:
    """A month of `rows` rows over `hours` hours, costs with many digits and negative lines."""
    return pl.DataFrame(
        {
            "time/usage_start": [
                f"2024-08-{1 + (i % hours) // 24:02d}T{(i % hours) % 24:02d}:00:00Z"
                for i in range(rows)
            ],
            "cost/cost": [
                f"{'-' if i % 7 == 0 else ''}{i}.{i * 7919 % 10**9:09d}" for i in range(rows)
            ],
            "resource/service": [f'svc "{i % 5}"\\' for i in range(rows)],
            "usage/amount": [None if i % 3 == 0 else str(i) for i in range(rows)],
        }
    )


def send(url: str, state: Path, frame: pl.DataFrame, *, operation: str = "replace_drop",
         target: int = 4_500_000, **client_options: float) -> object:  # fmt: skip
    bodies = month_bodies(frame, MONTH, operation=operation, target_bytes=target)
    options = {"retries": 8, "backoff": 0.01, **client_options}
    client = AnyCostClient(url, KEY, **options)  # type: ignore[arg-type]
    try:
        return send_month(
            client,
            "conn-1",
            MONTH,
            [(b.operation, b.payload, b.rows) for b in bodies],
            content_hash(bodies),
            lock_folder=state / "locks",
            ledger=SubmissionLedger(state / "submissions"),
            destination=url,
        )
    finally:
        client.close()


def held(server: object, frame: pl.DataFrame) -> None:
    """CloudZero holds exactly the frame's rows, empty values left out, cost to the digit."""
    rows = server.store.month_rows("conn-1", MONTH)  # type: ignore[attr-defined]
    expected = [{k: v for k, v in r.items() if v not in (None, "")} for r in frame.to_dicts()]
    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == sorted(
        json.dumps(r, sort_keys=True) for r in expected
    )
    assert sum(Decimal(r["cost/cost"]) for r in rows) == sum(Decimal(c) for c in frame["cost/cost"])


@pytest.mark.parametrize("answers", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("operation", ["replace_drop", "replace_hourly", "sum"])
def test_every_answer_form_confirms_the_send_and_then_the_unchanged_month(
    tmp_path: Path, answers: Answers, operation: str
) -> None:
    frame = month_frame(3_000)
    with start_sandbox(tmp_path / "cz", api_key=KEY, answers=answers) as server:
        first = send(server.url, tmp_path, frame, operation=operation, target=60_000)
        assert first.status == SENT and len(first.submission.bodies) > 3  # type: ignore[attr-defined]
        held(server, frame)
        again = send(server.url, tmp_path, frame, operation=operation, target=60_000)
        assert again.status == UNCHANGED
        held(server, frame)  # a sum month was not added twice
        assert server.stats()[CONCURRENT] == 0


@pytest.mark.parametrize(
    "value",
    [
        "2024-08",
        "2024-08-01",
        "2024-08-01T00:00:00Z",
        "2024-08-01T00:00:00.000Z",
        "2024-08-01T00:00:00.123456Z",
        "2024-08-01T00:00:00+00:00",
        "2024-08-01T02:00:00+02:00",
        "2024-08-01T00:00:00",
    ],
)
def test_months_are_read_in_every_iso_form(value: str) -> None:
    assert month_of(value) == "2024-08"


@settings(deadline=None)  # a busy machine may stall one example past Hypothesis' 200 ms
@given(
    st.integers(2000, 2099),
    st.integers(1, 12),
    st.sampled_from(["", ".0", ".000", ".123456"]),
    st.sampled_from(["Z", "+00:00", ""]),
)
def test_any_first_instant_of_a_month_reads_as_that_month(
    year: int, month: int, fraction: str, offset: str
) -> None:
    assert (
        month_of(f"{year:04d}-{month:02d}-01T00:00:00{fraction}{offset}")
        == f"{year:04d}-{month:02d}"
    )


def test_a_month_under_503s_and_lost_answers_ends_exact_within_three_runs(tmp_path: Path) -> None:
    frame = month_frame(30_000, hours=720)
    for seed in range(4):
        faults = Faults(error_rate=0.2, lost_rate=0.05, seed=seed)
        folder = tmp_path / f"seed-{seed}"
        with start_sandbox(folder / "cz", api_key=KEY, faults=faults) as server:
            for _ in range(3):
                try:
                    outcome = send(server.url, folder, frame, target=150_000, retries=3)
                except DeliveryFailed:
                    continue
                assert outcome.status == SENT  # type: ignore[attr-defined]
                assert len(outcome.submission.bodies) >= 15  # type: ignore[attr-defined]
                break
            else:
                pytest.fail(f"seed {seed}: the month did not arrive within three runs")
            held(server, frame)
            assert server.stats()[CONCURRENT] == 0, f"seed {seed}"


def test_a_retry_after_longer_than_the_cap_ends_the_request_at_once(tmp_path: Path) -> None:
    faults = Faults(throttle_rate=1.0, retry_after_seconds=3600)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as caught:
            send(server.url, tmp_path, month_frame(10), retry_after_cap=120)
        assert time.monotonic() - started < 60  # bounded: the run does not wait an hour
        assert caught.value.state == NOTHING_SENT
        assert "asked to wait 3600 s" in str(caught.value) and "Nothing was sent" in str(
            caught.value
        )
        # The drop list, read before deciding what to send; then one POST, refused: never again.
        assert server.stats()[REQUESTS] == 2


def test_a_short_retry_after_is_obeyed(tmp_path: Path) -> None:
    faults = Faults(throttle_rate=0.5, retry_after_seconds=1, seed=3)
    frame = month_frame(2_000)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        outcome = send(server.url, tmp_path, frame, target=30_000)
        assert outcome.status == SENT  # type: ignore[attr-defined]
        held(server, frame)
        assert server.stats()["injected_429"] > 0 and server.stats()[CONCURRENT] == 0


def test_an_answer_slower_than_the_timeout_is_never_overlapped(tmp_path: Path) -> None:
    # The write is applied but answered after the client gave up: the client must wait and read
    # the drop list before sending it again, so two writes are never in flight. The client
    # reads it 0.4 + 2.2 s after sending, 1.6 s after the held answer (1.0 s) is due, so a
    # machine busy with tests may stall the server that long. (A client stalled past the answer
    # just gets it; a drop-list read slower than 0.4 s is read again: neither overlaps.)
    faults = Faults(slow_rate=0.5, slow_seconds=1.0, seed=1)
    frame = month_frame(1_000)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        outcome = send(server.url, tmp_path, frame, target=20_000, timeout=0.4, settle_seconds=2.2)
        assert outcome.status == SENT  # type: ignore[attr-defined]
        held(server, frame)
        assert server.stats()["injected_slow"] > 0
        assert server.stats()[CONCURRENT] == 0


def test_reads_failing_after_accepted_writes_never_say_nothing_was_sent(tmp_path: Path) -> None:
    faults = Faults(reads_fail_after_writes=True)
    frame = month_frame(500)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        with pytest.raises(DeliveryFailed) as caught:
            send(server.url, tmp_path, frame, operation="sum", retries=1)
        text = str(caught.value)
        assert caught.value.state == SENT_UNCONFIRMED
        assert "The data was sent" in text and "Nothing was sent" not in text
        assert "would be added twice" in text  # a sum month is never re-sent blindly
        held(server, frame)
        server.faults.reads_fail_after_writes = False
        # The next run reads the drop list first: CloudZero lists our drop, so the month is
        # confirmed now and, unchanged, not added a second time.
        again = send(server.url, tmp_path, frame, operation="sum")
        assert again.status == UNCHANGED  # type: ignore[attr-defined]
        held(server, frame)


def test_a_sum_month_cloudzero_cannot_confirm_is_not_added_again(tmp_path: Path) -> None:
    frame = month_frame(300)
    faults = Faults(reads_fail_after_writes=True)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        with pytest.raises(DeliveryFailed):
            send(server.url, tmp_path, frame, operation="sum", retries=1)
        server.faults.reads_fail_after_writes = False
        # Someone else's drop lands on the month after ours: ours can no longer be confirmed.
        other = json.dumps(
            {
                "month": MONTH,
                "operation": "sum",
                "data": [{"time/usage_start": "2024-08-02T00:00:00Z", "cost/cost": "1"}],
            }
        ).encode()
        AnyCostClient(server.url, KEY).create_billing_drop("conn-1", other, "someone-else")
        with pytest.raises(DeliveryFailed) as refused:
            send(server.url, tmp_path, frame, operation="sum")
        assert refused.value.state == NOTHING_SENT
        assert "not as this adaptor left it" in str(refused.value)
        assert "delete-month" in str(refused.value) and "--force" in str(refused.value)
        assert len(server.store.month_rows("conn-1", MONTH)) == 301  # not added twice


@contextmanager
def server_that_never_answers() -> Iterator[str]:
    """A server on 127.0.0.1 that reads each request and closes the connection unanswered,
    like CloudZero going away after it may have applied a write."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    connection.recv(65536)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_first_body_whose_answer_never_comes_is_reported_as_maybe_sent(tmp_path: Path) -> None:
    with server_that_never_answers() as url:
        with pytest.raises(DeliveryFailed) as caught:
            send(url, tmp_path, month_frame(10), retries=1, settle_seconds=0.05, budget_seconds=2)
    assert caught.value.state == MAYBE_SENT
    assert "may or may not hold" in str(caught.value) and "Nothing was sent" not in str(
        caught.value
    )


def test_loopback_calls_ignore_proxy_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert AnyCostClient(server.url, KEY, retries=0).list_billing_drops("conn-1") == []


def test_a_key_is_cleaned_once_and_never_shown(tmp_path: Path) -> None:
    from anycost_pipeline.defs.resources import CloudZeroResource

    assert clean_key(f"  {KEY}\n") == KEY
    with pytest.raises(ValueError, match="space or a line break inside"):
        clean_key("abc\ndef")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        client = AnyCostClient(server.url, KEY + "\r\n", retries=0)
        assert client.list_billing_drops("conn-1") == []
        resource = CloudZeroResource(target="live", api_url=server.url, api_key=KEY + "\n")
        assert KEY not in repr(resource) and KEY not in str(resource)
        with resource.open_client() as live:
            assert live.list_billing_drops("conn-1") == []


def test_an_unreachable_host_is_named_with_what_to_check() -> None:
    client = AnyCostClient("https://cloudzero.invalid", KEY, retries=0, timeout=5)
    with pytest.raises(ServerUnavailable) as caught:
        client.list_billing_drops("conn-1")
    text = str(caught.value)
    assert "No answer from CloudZero (cloudzero.invalid)" in text
    assert "CLOUDZERO_API_URL" in text or "DNS" in text
