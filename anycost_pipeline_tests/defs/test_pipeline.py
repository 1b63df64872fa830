"""Dagster wiring: definitions load, one month end to end, re-runs replace, checks block."""

import os
import subprocess
import sys
from decimal import Decimal

import dagster as dg

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.defs.names import drop_op
from anycost_pipeline_tests.conftest import Project, instance_at
from anycost_pipeline_tests.defs.helpers import source_total


def _sandbox_rows(project: Project, month: str) -> list[dict]:
    return SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)


def test_definitions_load(project: Project) -> None:
    defs = project.definitions()
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {"raw/simple_cloud", "cbf/simple_cloud", "drop/simple_cloud_main"}
    partitions = defs.resolve_job_def("submit_month").partitions_def
    assert partitions is not None
    month_keys = partitions.get_partition_keys()
    assert month_keys[0] == "2024-01" and "2024-08" in month_keys


def test_one_month_end_to_end(project: Project) -> None:
    result = project.materialize_month("2024-08")
    assert result.success
    rows = _sandbox_rows(project, "2024-08")
    assert len(rows) == 250
    assert sum(Decimal(r["cost/cost"]) for r in rows) == source_total(project, "2024-08")
    assert {r["lineitem/type"] for r in rows} == {"Usage", "Tax", "Credit"}
    seed = [
        r
        for r in rows
        if r["time/usage_start"] == "2024-08-16T00:00:00Z"
        and r["resource/service"] == "Compute"
        and r["resource/account"] == "prod-001"
    ]
    assert seed == [
        {
            "time/usage_start": "2024-08-16T00:00:00Z",
            "resource/service": "Compute",
            "cost/cost": "12.00",
            "resource/account": "prod-001",
            "lineitem/type": "Usage",
        }
    ]
    drop = result.asset_materializations_for_node(drop_op("simple_cloud_main"))[0].metadata
    assert drop["rows"].value == 250 and drop["bodies"].value == 1
    assert drop["operations"].value == "replace_drop" and drop["drop_ids"].value.startswith(
        "sandbox-"
    )
    assert drop["total_cost_exact"].value == str(source_total(project, "2024-08"))


def test_rematerialising_after_a_file_changed_replaces_the_month(project: Project) -> None:
    assert project.materialize_month("2024-08").success
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    day.write_text(
        day.read_text().replace("Compute,prod-001,usage,12.00", "Compute,prod-001,usage,112.00")
    )
    (project.data_dir / "simple_cloud_2024-08-17.csv").unlink()
    # The file is withdrawn, not rotated away: its rows leave the month.
    config = project.config()
    config["sources"]["simple_cloud"]["deleted_files"] = "remove"
    project.write_config(config)
    assert project.materialize_month("2024-08").success
    rows = _sandbox_rows(project, "2024-08")
    assert len(rows) == 242  # day 17's 8 rows are gone, nothing doubled
    assert sum(Decimal(r["cost/cost"]) for r in rows) == source_total(project, "2024-08")
    assert len(_sandbox_rows(project, "2024-07")) == 0


def test_a_failing_check_stops_the_drop(project: Project) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["lineitem/type"]["map"]["tax"] = "VAT"
    project.write_config(config)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"rows_valid": False, "cost_conserved": True, "discounted_cost_matches": True}
    assert _sandbox_rows(project, "2024-08") == []
    assert not result.asset_materializations_for_node(drop_op("simple_cloud_main"))


def test_bad_source_value_fails_naming_the_place(project: Project) -> None:
    day = project.data_dir / "simple_cloud_2024-08-03.csv"
    day.write_text(day.read_text().replace("Storage,dev-002,usage,", "Storage,dev-002,usage,$"))
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert (
        "simple_cloud_2024-08-03.csv, row 7, column 'amount'" in message
        and "currency symbol" in message
    )
    assert _sandbox_rows(project, "2024-08") == []


def test_readme_main_command_runs(project: Project) -> None:
    """`anycost run` as a user runs it: a separate process in the project folder."""
    done = subprocess.run(
        [sys.executable, "-m", "anycost_pipeline.cli", "run", "2024-08"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(project.root / "dagster_home")},
    )
    assert done.returncode == 0, done.stderr
    assert "drop/simple_cloud_main" in done.stdout and "rows=250" in done.stdout
    assert "anycost show simple_cloud_main 2024-08" in done.stdout
    assert sum(Decimal(r["cost/cost"]) for r in _sandbox_rows(project, "2024-08")) == source_total(
        project, "2024-08"
    )
    instance = instance_at(project.root / "dagster_home")
    assert (
        instance.get_latest_materialization_event(dg.AssetKey(["drop", "simple_cloud_main"]))
        is not None
    )
