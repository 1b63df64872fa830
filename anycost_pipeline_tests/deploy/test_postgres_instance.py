"""Production shape: Dagster on PostgreSQL with the queued run coordinator and a daemon."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import yaml

from anycost_pipeline.cloudzero.sandbox import SandboxStore

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.servers import postgres_server

MONTHS = ["2024-07", "2024-08"]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _dagster_cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_backfill_through_a_postgres_instance(project: Project, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with postgres_server() as url:
        (home / "dagster.yaml").write_text(
            yaml.safe_dump(
                {
                    "storage": {"postgres": {"postgres_url": url}},
                    "run_coordinator": {
                        "module": "dagster._core.run_coordinator",
                        "class": "QueuedRunCoordinator",
                        "config": {"max_concurrent_runs": 2, "dequeue_interval_seconds": 1},
                    },
                    "telemetry": {"enabled": False},
                }
            )
        )
        env = {**os.environ, "DAGSTER_HOME": str(home), "ANYCOST_CONFIG": str(project.config_file)}
        target = ["-m", "anycost_pipeline.definitions"]
        daemon = subprocess.Popen(
            [_dagster_cli("dagster-daemon"), "run", *target], cwd=project.root, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            launched = subprocess.run(
                [_dagster_cli("dagster"), "job", "backfill", "-j", "submit_month", *target,
                 "--partitions", ",".join(MONTHS), "--noprompt"],
                cwd=project.root, env=env, capture_output=True, text=True, timeout=120,
            )
            assert launched.returncode == 0, launched.stderr[-3000:]
            instance = dg.DagsterInstance.from_config(str(home))
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                runs = instance.get_runs()
                if len(runs) == len(MONTHS) and all(r.status in FINISHED for r in runs):
                    break
                time.sleep(1)
            runs = instance.get_runs()
            assert sorted(r.tags.get("dagster/partition") for r in runs) == MONTHS
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            # The run history lives in PostgreSQL: the drops' materialisations are there.
            for month in MONTHS:
                drop = instance.get_latest_materialization_event(dg.AssetKey(["drop", "simple_cloud_main"]))
                assert drop is not None
            records = instance.fetch_materializations(dg.AssetKey(["drop", "simple_cloud_main"]), limit=10).records
            assert sorted(r.partition_key for r in records) == MONTHS
            instance.dispose()
        finally:
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=30)
    store = SandboxStore(project.storage / "sandbox")
    assert [len(store.month_rows("simple_cloud_main", m)) for m in MONTHS] == [250, 250]
