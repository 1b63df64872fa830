"""The sandbox's injected faults over real HTTP: what each does, and the counter it moves."""

import dataclasses
import threading
from pathlib import Path

import pytest
import requests

from anycost_pipeline.cloudzero.sandbox import SandboxServer, SandboxStore, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import (
    CONCURRENT,
    COUNTERS,
    INJECTED_429,
    INJECTED_503,
    INJECTED_LOST,
    INJECTED_READ_503,
    INJECTED_SLOW,
    REQUESTS,
    Faults,
)
from anycost_pipeline.cloudzero.sandbox.store import Request
from anycost_pipeline_tests.cloudzero.test_sandbox_api import (
    H1,
    KEY,
    Api,
    body,
    row,
    wait_until_in_flight,
)

SENT = body("2024-08", "sum", [row(H1, "1")])


def held(api: Api) -> int:
    answer = api.month("conn-1", "2024-08")
    return 0 if answer.status_code == 404 else len(answer.json()["billing_drop"])


def test_every_fault_is_off_by_default_and_every_counter_starts_at_zero(tmp_path: Path) -> None:
    faults = Faults()
    rates = [f.name for f in dataclasses.fields(faults) if f.name.endswith("_rate")]
    assert rates and all(getattr(faults, name) == 0 for name in rates) and faults.delay == 0
    with start_sandbox(tmp_path, api_key=KEY) as server:
        assert server.stats() == {name: 0 for name in COUNTERS}
        assert Api(server.url).stats() == {name: 0 for name in COUNTERS}
        assert set(COUNTERS) >= {
            REQUESTS,
            CONCURRENT,
            INJECTED_503,
            INJECTED_429,
            INJECTED_LOST,
            INJECTED_SLOW,
            INJECTED_READ_503,
        }


@pytest.mark.parametrize(
    "settings",
    [
        {"error_rate": 1.5},
        {"lost_rate": -0.1},
        {"throttle_rate": 2.0},
        {"slow_rate": 1.01},
        {"read_error_rate": -1.0},
        {"delay": -1.0},
        {"slow_seconds": -1.0},
        {"retry_after_seconds": -1},
    ],
)
def test_fault_settings_out_of_range_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError, match="must"):
        Faults(**settings)


def test_error_rate_answers_503_before_applying(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(error_rate=1.0)) as server:
        api = Api(server.url)
        answer = api.create("conn-1", SENT, key="k")
        assert answer.status_code == 503 and set(answer.json()) == {"message"}
        assert held(api) == 0 and server.stats()[INJECTED_503] == 1
        server.faults.error_rate = 0.0
        # The injected 503 was never CloudZero's answer: the same key now applies the body.
        assert api.create("conn-1", SENT, key="k").status_code == 200 and held(api) == 1
        assert api.stats()[INJECTED_503] == 1


def test_throttle_rate_answers_429_with_retry_after_and_applies_nothing(tmp_path: Path) -> None:
    faults = Faults(throttle_rate=1.0, retry_after_seconds=7)
    with start_sandbox(tmp_path, api_key=KEY, faults=faults) as server:
        api = Api(server.url)
        answer = api.create("conn-1", SENT, key="k")
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
        assert set(answer.json()) == {"message"} and "retry after 7 s" in answer.json()["message"]
        assert held(api) == 0  # reads are not throttled
        stats = api.stats()
        assert stats[INJECTED_429] == 1 and stats[CONCURRENT] == 0
        server.faults.throttle_rate = 0.0
        assert api.create("conn-1", SENT, key="k").status_code == 200 and held(api) == 1
        assert server.stats()[INJECTED_429] == 1


def test_lost_rate_applies_then_drops_the_connection(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(lost_rate=1.0)) as server:
        api = Api(server.url)
        with pytest.raises(requests.ConnectionError):
            api.create("conn-1", SENT, key="k")
        assert held(api) == 1 and server.stats()[INJECTED_LOST] == 1
        listed = api.drops("conn-1").json()["billing_drops"]
        # The same key is answered from memory (the first answer), without applying again.
        again = api.create("conn-1", SENT, key="k")
        assert again.status_code == 200
        assert again.json()["connection"]["drop_id"] == listed[0]["drop_id"]
        assert held(api) == 1 and api.stats()[INJECTED_LOST] == 1


def test_slow_rate_applies_and_holds_the_answer_and_the_connection(tmp_path: Path) -> None:
    faults = Faults(slow_rate=1.0, slow_seconds=2.0)
    with start_sandbox(tmp_path, api_key=KEY, faults=faults) as server:
        api = Api(server.url)
        with pytest.raises(requests.ReadTimeout):
            requests.post(
                f"{server.url}/v2/connections/billing/anycost/conn-1/billing_drops",
                json=SENT,
                headers={"Authorization": KEY, "cloudzero-idempotency-key": "k"},
                timeout=(5, 0.3),
            )
        # The client gave up, but the request still runs: the connection is busy.
        busy = api.drops("conn-1")
        assert busy.status_code == 429 and "another request" in busy.json()["message"]
        store = SandboxStore(tmp_path)
        for _ in range(10_000):  # until the held request ends (bounded, never a timing assertion)
            if not store._db().execute("SELECT COUNT(*) FROM in_flight").fetchone()[0]:
                break
            threading.Event().wait(0.001)
        assert held(api) == 1
        stats = server.stats()
        assert stats[INJECTED_SLOW] == 1 and stats[CONCURRENT] == 1
        path = "/v2/connections/billing/anycost/conn-1/billing_drops"
        (overlap,) = server.store.overlaps()
        assert (overlap.connection_id, overlap.held, overlap.arrived) == (
            "conn-1", Request("POST", path, "k"), Request("GET", path)
        )  # fmt: skip
        assert overlap.held_claimed <= overlap.held_since <= overlap.at  # held when it arrived


def test_slow_answer_arrives_for_a_patient_client(tmp_path: Path) -> None:
    faults = Faults(slow_rate=1.0, slow_seconds=0.2)
    with start_sandbox(tmp_path, api_key=KEY, faults=faults) as server:
        answer = Api(server.url).create("conn-1", SENT)
        assert answer.status_code == 200 and answer.json()["connection"]["row_count"] == 1
        assert server.stats()[INJECTED_SLOW] == 1


def test_read_error_rate_answers_reads_503_and_leaves_writes_alone(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY, faults=Faults(read_error_rate=1.0)) as server:
        api = Api(server.url)
        assert api.create("conn-1", SENT).status_code == 200
        for answer in (api.drops("conn-1"), api.month("conn-1", "2024-08")):
            assert answer.status_code == 503 and set(answer.json()) == {"message"}
        stats = api.stats()  # /sandbox/stats itself is never failed
        assert stats[INJECTED_READ_503] == 2 and stats[INJECTED_503] == 0
        server.faults.read_error_rate = 0.0
        assert held(api) == 1


def test_a_request_in_flight_during_a_held_write_is_counted_once(tmp_path: Path) -> None:
    faults = Faults(slow_rate=1.0, slow_seconds=0.5)
    with start_sandbox(tmp_path, api_key=KEY, faults=faults) as server:
        api = Api(server.url)
        writer = threading.Thread(target=lambda: api.create("conn-1", SENT))
        writer.start()
        wait_until_in_flight(tmp_path, held=True)
        second = api.create("conn-1", SENT)
        writer.join()
        assert second.status_code == 429 and held(api) == 1
        assert server.stats()[CONCURRENT] == 1 and server.stats()[INJECTED_429] == 0
        (overlap,) = server.store.overlaps()
        assert overlap.held.method == overlap.arrived.method == "POST"
        assert overlap.held_since is not None  # the first was held; the second came meanwhile


def _statuses(server: SandboxServer, count: int = 30) -> list[int]:
    api = Api(server.url)
    statuses = []
    for index in range(count):
        try:
            statuses.append(api.create("c", SENT, key=str(index)).status_code)
        except requests.ConnectionError:
            statuses.append(0)  # answer lost
        statuses.append(api.drops("c").status_code)
    return statuses


def test_every_fault_repeats_with_the_same_seed(tmp_path: Path) -> None:
    faults = Faults(
        error_rate=0.2,
        lost_rate=0.2,
        seed=5,
        throttle_rate=0.2,
        retry_after_seconds=0,
        slow_rate=0.3,
        slow_seconds=0.01,
        read_error_rate=0.3,
    )
    runs = []
    for name in ("a", "b"):
        with start_sandbox(tmp_path / name, api_key=KEY, faults=faults) as server:
            runs.append((_statuses(server), server.stats()))
    assert runs[0] == runs[1]
    statuses, stats = runs[0]
    assert {0, 200, 429, 503} <= set(statuses)
    assert all(stats[name] > 0 for name in COUNTERS if name.startswith("injected_"))
    assert stats[CONCURRENT] == 0
