"""A backfill of four months on one connection, run by Dagster with the multiprocess executor.

Four runs are launched at once (one process each, as Dagster's run launcher does) on an instance configured by the project's dagster_home/dagster.yaml;
each run's drop step is a separate process with its own sandbox server on the shared SQLite
state. The runs overlap in time, yet the sandbox never sees two requests at once on the
connection: the pool (limit 1) and the connection lock keep the drop steps apart.
"""

import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT
from anycost_pipeline.defs.pools import pool_name, prepare_pools
from anycost_pipeline_tests.conftest import REPO, Project

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
CONNECTION = "simple_cloud_main"
DROP = dg.AssetKey(["drop", CONNECTION])


def _write_months(project: Project) -> None:
    lines = ["date,service,account,charge_type,amount"]
    for number, month in enumerate(MONTHS, start=1):
        for day in range(1, 29):
            lines += [
                f"{month}-{day:02d},Compute,prod-{number:03d},usage,{day}.{number:02d}",
                f"{month}-{day:02d},Tax,prod-{number:03d},tax,0.{day:02d}",
            ]
    (project.data_dir / "simple_cloud_2024-h1.csv").write_text("\n".join(lines) + "\n")


def test_a_four_month_backfill_never_sends_two_requests_at_once(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_months(project)
    config = project.config()
    # Slow answers widen each request, so overlapping submissions would be caught.
    config["cloudzero"]["sandbox_faults"] = {"delay_seconds": 0.3}
    project.write_config(config)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with dg.DagsterInstance.get() as instance:
        # The inputs first, in process; then the drops as a backfill of four concurrent runs.
        upstream = project.definitions().resolve_job_def("submit_month")
        for month in MONTHS:
            assert upstream.execute_in_process(
                partition_key=month,
                instance=instance,
                asset_selection=[
                    dg.AssetKey(["raw", "simple_cloud"]),
                    dg.AssetKey(["cbf", "simple_cloud"]),
                ],
            ).success
        # Each connection's pool is set once before the first backfill, as the README says:
        # runs that set up a default-limited pool at the same moment can race (Dagster's issue).
        prepare_pools(instance, [CONNECTION])
        # One orchestrating process per month, started together, as a backfill launches runs.
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "anycost_pipeline_tests.defs.backfill_runner", month, "h1"],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for month in MONTHS
        ]
        try:
            outputs = [run.communicate(timeout=480)[0] for run in runs]
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
        assert [run.returncode for run in runs] == [0] * len(MONTHS), "\n".join(outputs)[-3000:]

        # The pool came from the project's dagster.yaml.
        assert (
            instance.event_log_storage.get_concurrency_info(pool_name(CONNECTION)).slot_count == 1
        )
        # The runs overlapped in time: without serialisation, their drops would have collided.
        records = instance.get_run_records(dg.RunsFilter(tags={"backfill": "h1"}))
        spans = sorted((r.start_time, r.end_time) for r in records)
        assert len(spans) == len(MONTHS)
        assert any(
            later[0] < max(end for _, end in spans[: i + 1]) for i, later in enumerate(spans[1:])
        ), spans
        # ...but their requests never did (the sandbox counts overlapping requests, below). The
        # drop steps' own spans are not asserted here: on a SQLite instance Dagster's slot claim
        # selects a free slot and updates it without re-checking that it is still free, so two
        # processes can both take the same slot; the connection lock still keeps their requests
        # apart. On PostgreSQL (the deploy/ instance) the pool itself holds: test_queued_backfill.

    store = SandboxStore(project.storage / "sandbox")
    assert store.counter(CONCURRENT) == 0
    for number, month in enumerate(MONTHS, start=1):
        rows = store.month_rows(CONNECTION, month)
        assert len(rows) == 56 and {r["resource/account"] for r in rows} == {f"prod-{number:03d}"}


def test_an_in_process_run_waits_for_the_pool_slot(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`anycost run` executes in process on the project's instance: its drop waits while the
    connection's pool slot is held elsewhere (here by a stand-in for a backfill's step)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    job = project.definitions().resolve_job_def("submit_month")
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        pool = pool_name(CONNECTION)
        storage.initialize_concurrency_limit_to_default(pool)
        assert storage.claim_concurrency_slot(pool, "other-run", "drop__other").is_claimed
        outcome: dict[str, bool] = {}
        running = threading.Thread(
            target=lambda: outcome.update(
                ok=job.execute_in_process(partition_key="2024-08", instance=instance).success
            )
        )
        running.start()
        store = SandboxStore(project.storage / "sandbox")
        give_up = time.monotonic() + 120  # a safety net only: the run must start waiting
        while (
            not storage.get_concurrency_info(pool).pending_step_count and time.monotonic() < give_up
        ):
            time.sleep(0.05)
        assert storage.get_concurrency_info(pool).pending_step_count == 1, (
            "the drop step did not wait for the pool"
        )
        held_until = time.time()
        assert store.month_rows(CONNECTION, "2024-08") == []  # nothing sent while the slot is held
        storage.free_concurrency_slot_for_step("other-run", "drop__other")
        running.join(timeout=120)
        assert outcome == {"ok": True} and len(store.month_rows(CONNECTION, "2024-08")) == 250
        (received_at,) = store._db().execute("SELECT received_at FROM drops").fetchone()
        assert datetime.fromisoformat(received_at).timestamp() > held_until
