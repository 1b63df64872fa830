"""A short fault campaign in CI: seeds chosen to cover every operation and fault kind, a kill
of the run, a server restart, an unreadable value and a month that fails rows_valid (the long
run is in the README)."""

from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.campaign.runner import overlap_violation, run_scenario
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
        f"replay: python -m anycost_pipeline_tests.campaign --seed {seed}"
    )


def test_only_a_read_that_asks_whether_a_write_is_done_may_meet_it(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, api_key=KEY) as server:
        store, path = server.store, "/v2/connections/billing/anycost/c/billing_drops"
        assert overlap_violation(server) is None
        token = store.claim("c", f"POST {path} key k1, applied, answer held")
        assert store.claim("c", f"GET {path}") is None  # the client asking: allowed
        assert overlap_violation(server) is None
        assert store.claim("c", f"POST {path} key k2") is None  # a write meanwhile: never
        assert overlap_violation(server) == (
            f"1 request(s) overlapped another; the first: POST {path} key k2 while "
            f"POST {path} key k1, applied, answer held"
        )
        store.release("c", token)
        token = store.claim("c", f"GET {path}")
        assert store.claim("c", f"GET {path}/2024-08") is None  # two reads at once: never
        assert overlap_violation(server).startswith("2 request(s)")
        store.release("c", token)
        # A read that meets a write still running (another run's, say): nobody gave up on it.
        token = store.claim("c", f"POST {path} key k3")
        assert store.claim("c", f"GET {path}") is None
        assert overlap_violation(server).startswith("3 request(s)")
