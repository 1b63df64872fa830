"""Production shape: the documented deploy/dagster.postgres.yaml, a PostgreSQL server, the
queued run coordinator and a daemon running a backfill."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import REPO, Project
from anycost_pipeline_tests.servers import postgres_server, production_home

MONTHS = ["2024-07", "2024-08"]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _dagster_cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_backfill_through_a_postgres_instance(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    with postgres_server() as url:
        instance_env = production_home(home, url, REPO)
        for name, value in instance_env.items():
            monkeypatch.setenv(name, value)  # this process reads the same instance
        env = {**os.environ, "ANYCOST_CONFIG": str(project.config_file)}
        subprocess.run(
            [
                _dagster_cli("dagster"),
                "instance",
                "concurrency",
                "set",
                "cloudzero_simple_cloud_main",
                "1",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        target = ["-m", "anycost_pipeline.definitions"]
        daemon = subprocess.Popen(
            [_dagster_cli("dagster-daemon"), "run", *target],
            cwd=project.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            launched = subprocess.run(
                [
                    _dagster_cli("dagster"),
                    "job",
                    "backfill",
                    "-j",
                    "submit_month",
                    *target,
                    "--partitions",
                    ",".join(MONTHS),
                    "--noprompt",
                ],
                cwd=project.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert launched.returncode == 0, launched.stderr[-3000:]
            instance = dg.DagsterInstance.from_config(str(home))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                runs = instance.get_runs()
                if len(runs) == len(MONTHS) and all(r.status in FINISHED for r in runs):
                    break
                time.sleep(1)
            runs = instance.get_runs()
            assert sorted(r.tags.get("dagster/partition") for r in runs) == MONTHS
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            # The run history lives in PostgreSQL: the drops' materialisations are there.
            records = instance.fetch_materializations(
                dg.AssetKey(["drop", "simple_cloud_main"]), limit=10
            ).records
            assert sorted(r.partition_key for r in records) == MONTHS
            instance.dispose()
        finally:
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=30)
    store = SandboxStore(project.storage / "sandbox")
    assert [len(store.month_rows("simple_cloud_main", m)) for m in MONTHS] == [250, 250]
