"""The Dagster instance folder (DAGSTER_HOME) that `anycost` runs in, made ready for use."""

import os
from pathlib import Path

from filelock import FileLock

SETTINGS = (
    "# Dagster instance settings (see deploy/ for production).\ntelemetry:\n  enabled: false\n"
    "# One request at a time per CloudZero connection: drop steps share a pool per connection.\n"
    "concurrency:\n  pools:\n    default_limit: 1\n"
    "# The slot of a run killed inside its drop step is given back a minute after it ended.\n"
    "run_monitoring:\n  enabled: true\n  poll_interval_seconds: 30\n"
    "  free_slots_after_run_end_seconds: 60\n"
    "# Run history keeps Dagster's events and INFO lines, not debug lines (each costs a write).\n"
    "python_logs:\n  python_log_level: INFO\n"
    "# The run history where Dagster keeps it, each file kept open between records"
    " (run_history.py).\n"
    "event_log_storage:\n  module: anycost_pipeline.run_history\n"
    "  class: SqliteEventLogKeepingEngines\n  config:\n    home:\n      env: DAGSTER_HOME\n"
)


def dagster_home(base: Path) -> Path:
    """$DAGSTER_HOME, or `<base>/dagster_home`, with its settings and storage made; sets
    $DAGSTER_HOME so that every Dagster call of this process uses it."""
    # Runs started here show up in `dg dev` when both use the project's DAGSTER_HOME.
    home = Path(os.environ.get("DAGSTER_HOME") or base / "dagster_home").resolve()
    os.environ["DAGSTER_HOME"] = str(home)  # the settings locate the run history by it
    ready_instance(home)
    return home


def ready_instance(home: Path) -> None:
    """Write the instance settings where there are none and create the instance's storage, one
    process at a time.

    Dagster processes that open a new SQLite instance at the same moment (two `anycost run`, a
    daemon beside a code server) each create its tables and fail with "database is locked" or
    "more than one head"; once the storage exists they share it safely.
    """
    import dagster as dg

    from anycost_pipeline.migration_scripts import read_once

    read_once()  # before the instance's storages first ask alembic
    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home / ".anycost-storage.lock")):
        settings = home / "dagster.yaml"
        if not settings.exists():  # Dagster warns on every command without one
            settings.write_text(SETTINGS)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)  # opens (and creates) the run, event and schedule storage
