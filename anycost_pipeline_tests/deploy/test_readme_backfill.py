"""The README's Dagster CLI backfill, run exactly as written, queued for a running daemon.

The daemon runs from the project folder, as the README says (it reads `workspace.yaml`, the
code location `dg dev` loads too); every run the backfill queues must succeed, and both months
must arrive in the sandbox with the sample's exact totals.
"""

import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import requests

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.conftest import REPO, Project, instance_at
from anycost_pipeline_tests.defs.helpers import source_total
from anycost_pipeline_tests.deploy.daemon import run_failures, wait_for_runs
from anycost_pipeline_tests.servers import stop

MONTHS = ["2024-07", "2024-08"]


def readme_backfill() -> str:
    (command,) = set(
        re.findall(
            r"`((?:DAGSTER_HOME=\S+ )?dagster job backfill [^`]+)`",
            (REPO / "README.md").read_text(),
        )
    )
    return command


def test_the_readmes_backfill_command_queues_runs_that_succeed(project: Project) -> None:
    command = readme_backfill()
    assert "--from 2024-07 --to 2024-08" in command
    shutil.copy(REPO / "workspace.yaml", project.root / "workspace.yaml")
    home = project.root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}  # ANYCOST_CONFIG: the project fixture's
    bin_dir = Path(sys.executable).parent
    # The instance's SQLite storage is created once, before two processes could race to do it.
    instance_at(home).dispose()
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run"],
        cwd=project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # As a user's shell runs it: without DAGSTER_HOME exported (Dagster stopped with a
        # traceback when the command did not carry it), with the project's tools on PATH.
        shell = {k: v for k, v in env.items() if k != "DAGSTER_HOME"}
        shell["PATH"] = f"{bin_dir}:{shell.get('PATH', '')}"
        launched = subprocess.run(
            ["bash", "-c", command],
            cwd=project.root,
            env=shell,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        assert "Warning" not in launched.stderr, launched.stderr[-3000:]
        instance = instance_at(home)
        runs, _ = wait_for_runs(instance, len(MONTHS), seconds=420)
        failures = run_failures(instance, runs)
        instance.dispose()
    finally:
        stop(daemon, group=True)
    assert sorted(r.tags.get("dagster/partition") for r in runs) == MONTHS, failures
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}, failures

    with start_sandbox(project.storage / "sandbox") as sandbox:
        for month in MONTHS:
            answer = requests.get(
                f"{sandbox.url}/v2/connections/billing/anycost/simple_cloud_main/billing_drops/{month}",
                headers={"Authorization": "sandbox-key"},
                timeout=30,
            )
            answer.raise_for_status()
            rows = answer.json()["billing_drop"]
            assert sum(Decimal(r["cost/cost"]) for r in rows) == source_total(project, month)
