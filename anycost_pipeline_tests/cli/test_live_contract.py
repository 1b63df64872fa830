"""`anycost` pointed at a server that answers as CloudZero's API reference documents.

The user's path: `cloudzero.target: live`, `CLOUDZERO_API_URL` on 127.0.0.1 (the sandbox, in
each answer form the reference allows), a key with a secret file's trailing newline, and a
proxy in the environment that must not carry loopback calls.
"""

from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT, Answers, Faults
from anycost_pipeline_tests.cli.live import KEY, anycost, one_csv_project

CONNECTION_ID = "conn-contract"
EXAMPLE = "date,service,amount,account\n2024-08-16,Compute,12.00,prod-001\n"
EXPECTED_ROW = {
    "time/usage_start": "2024-08-16T00:00:00Z",
    "resource/service": "Compute",
    "cost/cost": "12.00",
    "resource/account": "prod-001",
    "lineitem/type": "Usage",
}


def live_project(root: Path) -> Path:
    """The README's first CSV, sent live to one connection."""
    return one_csv_project(
        root, EXAMPLE, connection_id=CONNECTION_ID, cloudzero={"target": "live"}, time_column="date"
    )


# Every answer form is run against the client in cloudzero/test_contract.py; through the whole
# CLI, the reference's own form and the per-drop list (the two that change what is read).
@pytest.mark.parametrize(
    "answers",
    [Answers(), Answers(month_form="offset", listing="drops")],
    ids=["datetime", "per-drop"],
)
def test_a_live_run_sends_the_example_exactly_then_finds_it_unchanged(
    tmp_path: Path, answers: Answers
) -> None:
    config = live_project(tmp_path / "project")
    with start_sandbox(tmp_path / "cloudzero", api_key=KEY, answers=answers) as server:
        first = anycost(config, server.url, "run", "2024-08")
        assert first.returncode == 0, first.stdout + first.stderr
        assert server.store.month_rows(CONNECTION_ID, "2024-08") == [EXPECTED_ROW]
        assert "2024-08: sent" in first.stdout
        assert "Nothing was sent" not in first.stdout + first.stderr

        drops_before = len(server.store.drop_history(CONNECTION_ID))
        second = anycost(config, server.url, "run", "2024-08")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "2024-08: unchanged" in second.stdout
        assert len(server.store.drop_history(CONNECTION_ID)) == drops_before  # nothing sent again

        reconciled = anycost(config, server.url, "reconcile", "2024-08", "--contents")
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert "OK" in reconciled.stdout and "DIFF" not in reconciled.stdout
        assert server.stats()[CONCURRENT] == 0
        for output in (first, second, reconciled):
            assert KEY not in output.stdout + output.stderr


def faulty_project(root: Path, seed: int) -> Path:
    """A 30,000-row month in ~20 bodies, sent to the built-in sandbox while it answers 20% of
    writes with 503 and loses 5% of its answers after applying the write."""
    lines = ["time,service,amount,account"]
    for i in range(30_000):
        hour = i % 744
        lines.append(
            f"2024-08-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z,"
            f"svc-{i % 13},{'-' if i % 11 == 0 else ''}{i}.{i * 7919 % 10**7:07d},acct-{i % 5}"
        )
    cloudzero = {
        "target": "sandbox",
        "limits": {"body_bytes": 250_000},
        "sandbox_faults": {"error_rate": 0.2, "lost_rate": 0.05, "seed": seed},
    }
    return one_csv_project(
        root, "\n".join(lines) + "\n", connection_id=CONNECTION_ID, cloudzero=cloudzero
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_month_under_503s_and_lost_answers_ends_exact_within_three_runs(
    tmp_path: Path, seed: int
) -> None:
    from decimal import Decimal

    from anycost_pipeline.cloudzero.sandbox import SandboxStore

    config = faulty_project(tmp_path / "project", seed)
    store = SandboxStore(config.parent / ".anycost" / "sandbox")
    source_total = sum(
        Decimal(line.split(",")[2])
        for line in (config.parent / "exports" / "month.csv").read_text().splitlines()[1:]
    )
    for attempt in range(3):
        drops_before = len(store.drop_history(CONNECTION_ID))
        result = anycost(config, "unused", "run", "2024-08")
        words = result.stdout + result.stderr
        if result.returncode == 0:
            assert "2024-08: sent" in words
            break
        # A failed run's words are true: "nothing sent" means CloudZero got no new drop.
        if "2024-08: nothing sent" in words:
            assert len(store.drop_history(CONNECTION_ID)) == drops_before, words
        else:
            assert any(s in words for s in ("partly sent", "maybe sent", "not confirmed")), words
    else:
        pytest.fail(f"seed {seed}: not exact after three runs:\n{words}")
    rows = store.month_rows(CONNECTION_ID, "2024-08")
    assert len(rows) == 30_000
    assert sum(Decimal(r["cost/cost"]) for r in rows) == source_total
    assert len(store.drop_history(CONNECTION_ID)) >= 15  # ~20 bodies
    assert store.counter("concurrent_requests") == 0
    assert store.counter("injected_503") > 0


def test_a_sum_month_whose_reads_fail_after_its_writes_is_added_exactly_once(
    tmp_path: Path,
) -> None:
    config = live_project(tmp_path / "project")
    settings = yaml.safe_load(config.read_text())
    settings["connections"]["main"]["operation"] = "sum"
    settings["cloudzero"]["request_budget_seconds"] = 3  # a failing read gives up soon
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    faults = Faults(reads_fail_after_writes=True)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        words = []
        for reads_fail in (True, True, False):  # reads fail for two runs, then recover
            server.faults.reads_fail_after_writes = reads_fail
            drops = len(server.store.drop_history(CONNECTION_ID))
            result = anycost(config, server.url, "run", "2024-08")
            said = result.stdout + result.stderr
            words.append(said)
            if len(server.store.drop_history(CONNECTION_ID)) > drops:
                assert "Nothing was sent" not in said and "nothing sent" not in said, said
            assert server.store.month_rows(CONNECTION_ID, "2024-08") == [EXPECTED_ROW], said
        assert "2024-08: sent, not confirmed" in words[0] and "The data was sent" in words[0]
        # The second run cannot read what CloudZero holds: a sum month is not sent blind.
        assert "CloudZero's drop list could not be read" in words[1], words[1]
        assert "2024-08: unchanged" in words[2]  # confirmed now, and not added a second time
        assert len(server.store.drop_history(CONNECTION_ID)) == 1
