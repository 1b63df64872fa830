"""The client's retries, timeouts and error texts, against the sandbox over real HTTP."""

import json
import logging
import socket
from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.errors import (
    BadRequest,
    CloudZeroError,
    Forbidden,
    PayloadTooLarge,
    ServerUnavailable,
)
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, REQUESTS, Faults

KEY = "retry-test-key-5f1c"
HOUR = "2024-08-01T00:00:00Z"


def _body(operation: str, *costs: str) -> bytes:
    rows = [{"time/usage_start": HOUR, "cost/cost": c} for c in costs]
    return json.dumps({"month": "2024-08", "operation": operation, "data": rows}).encode()


def test_lost_answer_to_a_post_is_retried_and_applied_once(tmp_path: Path) -> None:
    # Every write is applied and its connection dropped before the answer: only the retry,
    # carrying the same idempotency key, gets CloudZero's remembered answer.
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(lost_rate=1.0)) as server:
        client = AnyCostClient(server.url, KEY, retries=3, backoff=0.01)
        receipt = client.create_billing_drop("c1", _body("sum", "1.5"), "key-lost-1")
        assert receipt["row_count"] == 1
        assert [r["cost/cost"] for r in client.get_billing_drop("c1", "2024-08")] == ["1.5"]
        # POST, the drop-list read that waits for the connection to be free, the retry, the GET
        assert server.stats()[REQUESTS] == 4
        assert server.stats()[CONCURRENT] == 0


def test_server_errors_are_retried_until_they_pass(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(error_rate=0.5, seed=7)) as server:
        client = AnyCostClient(server.url, KEY, retries=10, backoff=0.01)
        for index in range(6):
            client.create_billing_drop("c1", _body("sum", "1"), f"key-{index}")
        assert len(client.get_billing_drop("c1", "2024-08")) == 6
        assert server.stats()[REQUESTS] > 7  # some writes needed more than one attempt


def test_server_errors_give_up_after_the_retries_with_a_typed_error(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(error_rate=1.0)) as server:
        client = AnyCostClient(server.url, KEY, retries=2, backoff=0.01)
        with pytest.raises(
            ServerUnavailable, match="HTTP 503.*Service Unavailable.*retry the run later"
        ):
            client.create_billing_drop("c1", _body("sum", "1"), "k")
        assert server.stats()[REQUESTS] == 3


@pytest.mark.parametrize("case", ["400", "403", "413"])
def test_client_errors_are_never_retried(tmp_path: Path, case: str) -> None:
    with start_sandbox(tmp_path, api_key=KEY) as server:
        key = "wrong-key" if case == "403" else KEY
        client = AnyCostClient(server.url, key, retries=5, backoff=0.01)
        body = {
            "400": _body("sum", "1e-5"),
            "403": _body("sum", "1"),
            "413": _body("sum", *["1" + "0" * 60] * 80_000),
        }[case]
        expected = {"400": BadRequest, "403": Forbidden, "413": PayloadTooLarge}[case]
        with pytest.raises(expected) as caught:
            client.create_billing_drop("c1", body, "k")
        assert server.stats()[REQUESTS] == 1
        assert f"HTTP {case}" in str(caught.value)


def test_403_and_413_say_what_the_server_said_and_what_to_do(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY) as server:
        with pytest.raises(Forbidden) as forbidden:
            AnyCostClient(server.url, "wrong-key", retries=0).list_billing_drops("c1")
        assert "Forbidden: invalid or missing API key" in str(forbidden.value)
        assert "CLOUDZERO_API_KEY" in str(forbidden.value) and "four AnyCost Stream scopes" in str(
            forbidden.value
        )
        assert "wrong-key" not in str(forbidden.value)
        big = _body("sum", *["1" + "0" * 60] * 80_000)
        with pytest.raises(PayloadTooLarge) as too_large:
            AnyCostClient(server.url, KEY, retries=0).create_billing_drop("c1", big, "k")
        assert f"the body is {len(big):,} bytes, over the limit of 5,000,000 bytes" in str(
            too_large.value
        )
        assert "smaller bodies" in str(too_large.value)


def test_no_answer_at_all_is_a_typed_error_after_retries(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    client = AnyCostClient(f"http://127.0.0.1:{port}", KEY, retries=2, backoff=0.01)
    with pytest.raises(
        ServerUnavailable, match="No answer from CloudZero .*ConnectionError"
    ) as caught:
        client.list_billing_drops("c1")
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    assert KEY not in str(caught.value) and KEY not in caplog.text
    assert caplog.text.count("; retrying in ") == 2


def test_a_slow_answer_is_waited_out_before_the_write_is_sent_again(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(delay=2.0)) as server:
        client = AnyCostClient(
            server.url, KEY, timeout=1.0, retries=1, backoff=0.01, settle_seconds=2.0
        )
        # Each attempt is slower than the timeout. Before the second, the client reads the
        # drop list once the first may have finished: CloudZero takes one request at a time.
        # A machine busy with tests may stall either side for a while, so each margin is 1 s:
        # the answer comes 1 s after the timeout (a stalled client must still time out), the
        # drop list is read 1 s after the first write's answer (a stalled server must be done
        # with it) and the drop list itself has 1 s to answer (or it is read twice).
        with pytest.raises(CloudZeroError, match="ReadTimeout during POST"):
            client.create_billing_drop("c1", _body("sum", "1"), "k-slow")
        assert server.stats()[REQUESTS] == 3  # POST, the drop-list read, POST
        assert server.stats()[CONCURRENT] == 0
        assert [r["cost/cost"] for r in server.store.month_rows("c1", "2024-08")] == ["1"]


def test_a_key_echoed_by_the_server_is_hidden(tmp_path: Path) -> None:
    # A server that echoes the Authorization header in its error must not leak it to us.
    with start_sandbox(tmp_path, api_key=KEY) as server:
        client = AnyCostClient(server.url, KEY, retries=0)
        body = json.dumps(
            {"month": "2024-08", "data": [{"time/usage_start": HOUR, "cost/cost": KEY}]}
        ).encode()
        with pytest.raises(BadRequest) as caught:
            client.create_billing_drop("c1", body, "k")
        assert KEY not in str(caught.value) and "[API key hidden]" in str(caught.value)
