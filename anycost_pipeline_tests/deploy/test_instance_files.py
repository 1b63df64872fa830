"""The production instance file in deploy/ is valid Dagster instance configuration."""

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config

from anycost_pipeline_tests.conftest import REPO, Project, instance_at


def test_postgres_instance_file_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(name, "x")
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any unknown or mistyped key
    assert set(config["storage"]) == {"postgres"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 1
    # A run killed inside its drop step must not keep its connection's slot for ever.
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    # The keys test_killed_run_slot.py shortens, to see the slot freed through a real daemon.
    assert 0 < config["run_monitoring"]["poll_interval_seconds"] <= 60


def test_the_projects_own_instance_files_free_a_killed_runs_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anycost_pipeline.cli.home import dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # dagster_home sets it: undone after
    written = dagster_home(tmp_path)  # the file `anycost` writes where there is none
    for folder in (written, REPO / "dagster_home"):
        config, _ = dagster_instance_config(str(folder))
        assert config["concurrency"]["pools"]["default_limit"] == 1
        assert config["run_monitoring"]["enabled"] is True
        assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
        assert 0 < config["run_monitoring"]["poll_interval_seconds"] <= 60
        # Each run history file written through one engine (anycost_pipeline/run_history.py).
        assert config["event_log_storage"]["class"] == "SqliteEventLogKeepingEngines"


# What `anycost run` does first: make the instance folder ready, then open the instance.
OPEN_INSTANCE = """
import sys, time
from pathlib import Path
import dagster as dg
from anycost_pipeline.cli.home import dagster_home
start = float(sys.argv[2])
while time.time() < start:  # every process opens the new instance at the same moment
    time.sleep(0.001)
dagster_home(Path(sys.argv[1]))
with dg.DagsterInstance.get() as instance:
    instance.get_runs(limit=1)
"""


def test_processes_that_open_a_new_instance_at_once_all_succeed(tmp_path: Path) -> None:
    """Two `anycost run` (or a daemon beside a code server) started together on a new project
    must not fail on the instance's storage being created twice."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    base = tmp_path / "project"
    start = str(time.time() + 4)  # after every interpreter has imported dagster
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_INSTANCE, str(base), start],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, "\n".join(errors)[-3000:]


def test_a_runs_history_keeps_its_events_and_not_the_frame_stores_debug_lines(
    project: Project,
) -> None:
    """The run history records Dagster's events and what the steps say (INFO and above), not
    the frame store's debug lines ("Writing file at ...", three per step): with SQLite each
    record costs milliseconds, a fifth of a many-source month's records were those lines."""

    from anycost_pipeline.cli import main

    assert main(["run", "2024-08"]) == 0
    with instance_at(project.root / "dagster_home") as instance:
        (run,) = instance.get_runs()
        records = instance.all_logs(run.run_id)
    said = [r for r in records if r.dagster_event is None]
    assert said and all(r.level >= logging.INFO for r in said), [
        (r.level, r.user_message) for r in said if r.level < logging.INFO
    ]
    events = {r.dagster_event.event_type_value for r in records if r.dagster_event}
    # Dagster's own events at debug level stay: the UI's step timeline reads them.
    assert {"LOADED_INPUT", "HANDLED_OUTPUT", "ASSET_MATERIALIZATION", "STEP_SUCCESS"} <= events
