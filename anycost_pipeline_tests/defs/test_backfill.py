"""A backfill of six months on one connection, run by Dagster with the multiprocess executor.

Six runs are launched at once (one process each, as Dagster's run launcher does) on an instance configured by the project's dagster_home/dagster.yaml;
each run's drop step is a separate process with its own sandbox server on the shared SQLite
state. The runs overlap in time, yet the sandbox never sees two requests at once on the
connection: the pool (limit 1) and the connection lock keep the drop steps apart.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.cloudzero.sandbox.server import CONCURRENT
from anycost_pipeline.defs.assets import pool_name
from anycost_pipeline_tests.conftest import REPO, Project

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
CONNECTION = "simple_cloud_main"
DROP = dg.AssetKey(["drop", CONNECTION])


def _write_months(project: Project) -> None:
    lines = ["date,service,account,charge_type,amount"]
    for number, month in enumerate(MONTHS, start=1):
        for day in range(1, 29):
            lines += [f"{month}-{day:02d},Compute,prod-{number:03d},usage,{day}.{number:02d}",
                      f"{month}-{day:02d},Tax,prod-{number:03d},tax,0.{day:02d}"]
    (project.data_dir / "simple_cloud_2024-h1.csv").write_text("\n".join(lines) + "\n")


def test_a_six_month_backfill_never_sends_two_requests_at_once(
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
        # The inputs first, in process; then the drops as a backfill of six concurrent runs.
        upstream = project.definitions().resolve_job_def("submit_month")
        for month in MONTHS:
            assert upstream.execute_in_process(
                partition_key=month, instance=instance,
                asset_selection=[dg.AssetKey(["raw", "simple_cloud"]), dg.AssetKey(["cbf", "simple_cloud"])],
            ).success
        # One orchestrating process per month, started together, as a backfill launches runs.
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "anycost_pipeline_tests.defs.backfill_runner", month, "h1"],
                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for month in MONTHS
        ]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
        assert [run.returncode for run in runs] == [0] * 6, "\n".join(outputs)[-3000:]

        # The pool came from the project's dagster.yaml.
        assert instance.event_log_storage.get_concurrency_info(pool_name(CONNECTION)).slot_count == 1
        # The runs overlapped in time: without serialisation, their drops would have collided.
        records = instance.get_run_records(dg.RunsFilter(tags={"backfill": "h1"}))
        spans = sorted((r.start_time, r.end_time) for r in records)
        assert len(spans) == 6
        assert any(later[0] < max(end for _, end in spans[: i + 1]) for i, later in enumerate(spans[1:])), spans
        # ...but the drop steps themselves never did.
        steps = []
        for record in records:
            events = instance.all_logs(record.dagster_run.run_id)
            start = next(e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START")
            end = next(e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS")
            steps.append((start, end))
        steps.sort()
        assert all(earlier[1] <= later[0] for earlier, later in zip(steps, steps[1:])), steps

    store = SandboxStore(project.storage / "sandbox")
    assert store.counter(CONCURRENT) == 0
    for number, month in enumerate(MONTHS, start=1):
        rows = store.month_rows(CONNECTION, month)
        assert len(rows) == 56 and {r["resource/account"] for r in rows} == {f"prod-{number:03d}"}
