"""A short fault campaign in CI: seeds chosen to cover every operation and fault kind, a kill
of the run, a server restart, an unreadable value and a month that fails rows_valid (the long
run is in the README)."""

import json
import time
from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.sandbox import Faults, start_sandbox
from anycost_pipeline.cloudzero.sandbox.store import Overlap, Request
from anycost_pipeline_tests.campaign.runner import is_probe, overlap_violation, run_scenario
from anycost_pipeline_tests.campaign.scenario import FAULT_KINDS, OPERATIONS, draw
from anycost_pipeline_tests.cli.live import KEY

CI_SEEDS = (1, 2, 4, 6, 7, 52)


def test_the_ci_seeds_cover_every_operation_fault_kill_restart_and_bad_value() -> None:
    scenarios = [draw(seed) for seed in CI_SEEDS]
    assert {s.operation for s in scenarios} == set(OPERATIONS)
    assert {kind for s in scenarios for kind, rate in s.faults.items() if rate} == set(FAULT_KINDS)
    assert any(s.kill_after for s in scenarios) and any(s.restart_after for s in scenarios)
    assert any(s.bad_row for s in scenarios) and any(s.bad_check for s in scenarios)


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_campaign_seed_keeps_every_invariant(seed: int, tmp_path: Path) -> None:
    result = run_scenario(draw(seed), tmp_path)
    assert result.violations == [], (
        f"replay: python -m anycost_pipeline_tests.campaign --seed {seed}\n\n"
        + "\n".join(result.said)
    )


def _overlap(held: Request, arrived: Request, *, after: float, held_answer: bool) -> Overlap:
    return Overlap(100.0 + after, "c", held, 100.0, 100.5 if held_answer else None, arrived)


def test_only_the_clients_drop_list_read_after_its_timeout_may_meet_a_held_write() -> None:
    drops = "/v2/connections/billing/anycost/c/billing_drops"
    write, probe = Request("POST", drops, "k1"), Request("GET", drops)
    assert is_probe(_overlap(write, probe, after=2.5, held_answer=True), timeout=1.0)
    never = {
        "a write meanwhile": _overlap(write, Request("POST", drops, "k2"), after=2.5, held_answer=True),
        "a month read": _overlap(write, Request("GET", f"{drops}/2024-08"), after=2.5, held_answer=True),
        "a read with a key": _overlap(write, Request("GET", drops, "k1"), after=2.5, held_answer=True),
        "before the client could give up": _overlap(write, probe, after=0.3, held_answer=True),
        "a write nobody gave up on": _overlap(write, probe, after=2.5, held_answer=False),
        "two reads at once": _overlap(probe, probe, after=2.5, held_answer=False),
        "a read that met a held read": _overlap(probe, probe, after=2.5, held_answer=True),
        "a write without a key": _overlap(write, Request("POST", drops), after=2.5, held_answer=True),
        "a read of another path": _overlap(write, Request("GET", f"{drops}/x/y"), after=2.5, held_answer=True),
    }  # fmt: skip
    assert [what for what, o in never.items() if is_probe(o, timeout=1.0)] == []


def test_the_campaign_names_the_first_overlap_that_is_not_a_probe(tmp_path: Path) -> None:
    drops = "/v2/connections/billing/anycost/c/billing_drops"
    with start_sandbox(tmp_path, api_key=KEY) as server:
        store = server.store
        assert overlap_violation(server, timeout=0.2) is None
        token = store.claim("c", Request("POST", drops, "k1"))
        assert token is not None
        store.hold("c", token)
        assert store.claim("c", Request("GET", drops)) is None  # too soon to have given up
        assert overlap_violation(server, timeout=0.2) is not None
        time.sleep(0.2)
        assert store.claim("c", Request("GET", drops)) is None  # the client asking: allowed
        assert overlap_violation(server, timeout=0.2).startswith("1 request(s)")
        assert store.claim("c", Request("POST", drops, "k2")) is None  # a write meanwhile
        violation = overlap_violation(server, timeout=0.2)
        assert violation is not None and violation.startswith(
            f"2 request(s) overlapped another; the first: GET {drops} 0."
        )
        assert violation.endswith(f" s into POST {drops} key k1, applied, answer held")


def test_the_clients_probe_meets_a_held_write_and_is_the_only_overlap(tmp_path: Path) -> None:
    """What seed 174's one overlap most likely was: the client gives up on a write whose answer
    is held, waits, and reads the drop list while the write still runs."""
    faults = Faults(slow_rate=1.0, slow_seconds=5.0)  # far longer than the client's 1.1-1.6 s
    with start_sandbox(tmp_path, api_key=KEY, faults=faults) as server:
        client = AnyCostClient(server.url, KEY, timeout=0.3)
        body = {"month": "2024-08", "operation": "sum", "data": [
            {"time/usage_start": "2024-08-01T00:00:00Z", "cost/cost": "1"}
        ]}  # fmt: skip
        client.create_billing_drop("c", json.dumps(body).encode(), "key-1")
        overlaps = server.store.overlaps()
        assert overlaps and all(is_probe(o, timeout=0.3) for o in overlaps), overlaps
        assert overlap_violation(server, timeout=0.3) is None
