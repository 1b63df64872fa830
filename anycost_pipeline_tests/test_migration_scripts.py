"""Alembic's migration scripts are read once per storage and process, and every database file
is stamped with the same revision as before."""

import sqlite3
from pathlib import Path

import dagster as dg
import pytest
from alembic.script import ScriptDirectory
from dagster._core.storage.runs.sqlite import sqlite_run_storage
from dagster._core.storage.sql import get_alembic_config

from anycost_pipeline import migration_scripts
from anycost_pipeline.cli.home import dagster_home
from anycost_pipeline_tests.test_run_history import materialize


def test_a_new_instance_and_its_runs_read_the_scripts_once_per_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration_scripts, "_kept", {})
    built: list[str] = []
    real = ScriptDirectory.__init__

    def counted(self: ScriptDirectory, directory: str, *args: object, **kwargs: object) -> None:
        built.append(directory)
        real(self, directory, *args, **kwargs)

    monkeypatch.setattr(ScriptDirectory, "__init__", counted)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    home = dagster_home(tmp_path)
    with dg.DagsterInstance.get() as instance:
        runs = [materialize(instance, f"2024-0{month}-01") for month in (1, 2, 3)]
    # Dagster keeps one alembic configuration per storage: runs, run history, schedules.
    assert 1 <= len(built) <= 3, built

    # Each file stamped with the newest revision, as read afresh.
    config = get_alembic_config(sqlite_run_storage.__file__)
    head = migration_scripts._read(ScriptDirectory, config).get_current_head()
    files = [
        home / "history" / "runs.db",
        home / "history" / "runs" / "index.db",
        home / "schedules" / "schedules.db",
        *(home / "history" / "runs" / f"{run}.db" for run in runs),
    ]
    for file in files:
        with sqlite3.connect(file) as db:
            stamped = db.execute("SELECT version_num FROM alembic_version").fetchall()
        assert stamped == [(head,)], file


@dg.asset
def one() -> int:
    return 1


def test_the_project_instance_and_ephemeral_ones_in_turn_keep_a_few_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster keeps three alembic configurations and makes them again for a fourth storage
    kind (an in-memory instance, as `anycost plan` opens beside the project's): the scripts
    are kept by what a configuration says, so they are not read and kept again each time."""
    monkeypatch.setattr(migration_scripts, "_kept", {})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    dagster_home(tmp_path)
    for _ in range(4):
        with dg.DagsterInstance.get() as instance:
            assert dg.materialize([one], instance=instance).success
        with dg.DagsterInstance.ephemeral() as instance:
            assert dg.materialize([one], instance=instance).success
    assert 1 <= len(migration_scripts._kept) <= 5  # the storage kinds, not the openings
