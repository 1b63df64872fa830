"""The sandbox server over real HTTP on 127.0.0.1, driven by the project's client."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from anycost_pipeline.cloudzero.client import AnyCostClient, idempotency_key
from anycost_pipeline.cloudzero.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from anycost_pipeline.cloudzero.sandbox import SandboxServer, SandboxStore, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, Faults

KEY = "sandbox-test-key-1234"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path, api_key=KEY) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[AnyCostClient]:
    c = AnyCostClient(server.url, KEY, retries=1, backoff=0.01)
    yield c
    c.close()


def _row(hour: str, cost: str, **more: str) -> dict:
    return {"time/usage_start": hour, "cost/cost": cost, **more}


def _body(month: str, operation: str, rows: list[dict]) -> bytes:
    return json.dumps({"month": month, "operation": operation, "data": rows}).encode()


def _send(
    client: AnyCostClient, month: str, operation: str, rows: list[dict], index: int = 0
) -> dict:
    body = _body(month, operation, rows)
    return client.create_billing_drop("conn-1", body, idempotency_key("conn-1", month, index, body))


def test_operations_replace_and_append(client: AnyCostClient) -> None:
    h1, h2 = "2024-08-01T00:00:00Z", "2024-08-01T01:00:00Z"
    receipt = _send(client, "2024-08", "replace_drop", [_row(h1, "1"), _row(h2, "2")])
    assert receipt["month"] == "2024-08" and receipt["row_count"] == 2 and receipt["drop_id"]
    _send(client, "2024-08", "replace_hourly", [_row(h2, "20")])
    assert client.get_billing_drop("conn-1", "2024-08") == [_row(h1, "1"), _row(h2, "20")]
    _send(client, "2024-08", "sum", [_row(h2, "5")])
    assert [r["cost/cost"] for r in client.get_billing_drop("conn-1", "2024-08")] == [
        "1",
        "20",
        "5",
    ]
    _send(client, "2024-08", "replace_drop", [_row(h1, "9")])
    assert client.get_billing_drop("conn-1", "2024-08") == [_row(h1, "9")]
    assert client.list_billing_drops("conn-1") == [
        {
            "drop_id": client.list_billing_drops("conn-1")[0]["drop_id"],
            "month": "2024-08",
            "row_count": 1,
        }
    ]


def test_same_idempotency_key_is_applied_once(client: AnyCostClient) -> None:
    body = _body("2024-08", "sum", [_row("2024-08-01T00:00:00Z", "1")])
    first = client.create_billing_drop("conn-1", body, "key-1")
    again = client.create_billing_drop("conn-1", body, "key-1")
    assert first == again
    assert len(client.get_billing_drop("conn-1", "2024-08")) == 1


def test_invalid_rows_are_refused_with_reasons(client: AnyCostClient) -> None:
    rows = [
        _row("2024-08-01T00:30:00Z", "1"),
        _row("2024-09-01T00:00:00Z", "1e-5", **{"lineitem/type": "Refund"}),
    ]
    with pytest.raises(BadRequest) as caught:
        _send(client, "2024-08", "replace_drop", rows)
    text = str(caught.value)
    assert (
        "HTTP 400" in text
        and "not an ISO-8601 UTC hour" in text
        and "outside the month 2024-08" in text
    )
    assert (
        "'1e-5' is not a plain decimal" in text and "'Refund' is not a CBF line item type" in text
    )
    verdict = client.validate_billing_drop(_body("2024-08", "replace_drop", rows))
    assert verdict["is_valid"] is False and len(verdict["errors"]) == 4
    assert client.validate_billing_drop(
        _body("2024-08", "replace_drop", [_row("2024-08-01T00:00:00Z", "1")])
    ) == {"is_valid": True, "errors": []}


def test_wrong_key_gets_403_with_advice(server: SandboxServer) -> None:
    wrong = AnyCostClient(server.url, "not-the-key", retries=0)
    with pytest.raises(Forbidden) as caught:
        wrong.list_billing_drops("conn-1")
    assert "four AnyCost Stream scopes" in str(caught.value)
    assert "not-the-key" not in str(caught.value)
    bearer = requests.get(
        server.url + "/v2/connections/billing/anycost/conn-1/billing_drops",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    assert bearer.status_code == 403 and "message" in bearer.json()


def test_body_over_five_million_bytes_gets_413(client: AnyCostClient) -> None:
    rows = [_row("2024-08-01T00:00:00Z", "1", **{"lineitem/description": "x" * 1000})] * 5000
    with pytest.raises(PayloadTooLarge, match="HTTP 413.*smaller bodies"):
        _send(client, "2024-08", "replace_drop", rows)


def test_unknown_month_is_404(client: AnyCostClient) -> None:
    with pytest.raises(NotFound, match="HTTP 404"):
        client.get_billing_drop("conn-1", "2023-01")


def test_test_key_writes_to_its_own_namespace(server: SandboxServer, client: AnyCostClient) -> None:
    trial = AnyCostClient(server.url, KEY, test_key="trial-1")
    body = _body("2024-08", "replace_drop", [_row("2024-08-01T00:00:00Z", "1")])
    trial.create_billing_drop("conn-1", body, "k")
    assert len(trial.get_billing_drop("conn-1", "2024-08")) == 1
    assert client.list_billing_drops("conn-1") == []


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ValueError, match="only travel over https"):
        AnyCostClient("http://api.example.com", KEY)
    assert "secret" not in repr(AnyCostClient("https://api.example.com", "secret"))


def test_in_flight_claims_are_shared_by_every_process_using_the_database(tmp_path: Path) -> None:
    from anycost_pipeline.cloudzero.sandbox import store as store_module

    first, second = SandboxStore(tmp_path), SandboxStore(tmp_path)  # two servers, one file
    token = first.claim("conn-1")
    assert token is not None
    assert second.claim("conn-1") is None
    assert second.claim("conn-2") is not None  # other connections are independent
    first.release("conn-1", token)
    assert second.claim("conn-1") is not None
    # A claim left by a server that died mid-request expires.
    first._db().execute("UPDATE in_flight SET since = since - ?", (store_module.STALE_SECONDS + 1,))
    assert first.claim("conn-1") is not None


def test_a_second_concurrent_request_gets_429_and_is_counted(tmp_path: Path) -> None:
    import threading

    with (
        start_sandbox(tmp_path, api_key=KEY, faults=Faults(delay=0.5)) as slow,
        start_sandbox(tmp_path, api_key=KEY) as other,
    ):
        body = _body("2024-08", "sum", [_row("2024-08-01T00:00:00Z", "1")])
        first = threading.Thread(
            target=lambda: AnyCostClient(slow.url, KEY).create_billing_drop("conn-1", body, "a")
        )
        first.start()
        watcher = SandboxStore(tmp_path)
        for _ in range(
            10_000
        ):  # until the slow write is in flight (bounded, never a timing assertion)
            if watcher._db().execute("SELECT COUNT(*) FROM in_flight").fetchone()[0]:
                break
            threading.Event().wait(0.001)
        answer = requests.get(
            other.url + "/v2/connections/billing/anycost/conn-1/billing_drops",
            headers={"Authorization": KEY},
            timeout=5,
        )
        first.join()
        assert answer.status_code == 429 and "another request" in answer.json()["message"]
        assert other.stats()[CONCURRENT] == 1 == slow.stats()[CONCURRENT]
        assert requests.get(other.url + "/sandbox/stats", timeout=5).json()[CONCURRENT] == 1


def test_injected_faults_repeat_with_the_same_seed(tmp_path: Path) -> None:
    def outcomes(folder: Path) -> list[int]:
        with start_sandbox(folder, api_key=KEY, faults=Faults(error_rate=0.4, seed=11)) as server:
            statuses = []
            for index in range(20):
                body = _body("2024-08", "sum", [_row("2024-08-01T00:00:00Z", "1")])
                statuses.append(
                    requests.post(
                        server.url + "/v2/connections/billing/anycost/c/billing_drops",
                        data=body,
                        headers={"Authorization": KEY, "cloudzero-idempotency-key": str(index)},
                        timeout=5,
                    ).status_code
                )
            return statuses

    first, again = outcomes(tmp_path / "a"), outcomes(tmp_path / "b")
    assert first == again and set(first) == {200, 503}


def test_sandbox_command_starts_a_server(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anycost_pipeline.cloudzero.sandbox",
            "--port",
            str(port),
            "--storage",
            str(tmp_path),
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert f"listening on http://127.0.0.1:{port}" in process.stdout.readline()  # type: ignore[union-attr]
        client = AnyCostClient(f"http://127.0.0.1:{port}", KEY)
        assert client.list_billing_drops("conn-1") == []
    finally:
        process.terminate()
        process.wait(timeout=10)
