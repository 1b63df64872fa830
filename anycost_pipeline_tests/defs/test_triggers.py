"""Sensors and schedules: which months they request, and that the runs they ask for work."""

import os
from datetime import datetime, timezone

import dagster as dg
import pytest

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.defs.schedules import refresh_months
from anycost_pipeline_tests.conftest import Project

SENSOR = "watch_simple_cloud"
JOB = "send_simple_cloud_main"


def tick(project: Project, cursor: str | None) -> dg.SensorResult:
    sensor = project.definitions().resolve_sensor_def(SENSOR)
    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def months(result: dg.SensorResult) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests or [])  # type: ignore[misc]


def test_new_files_request_their_months_and_the_run_sends_them(project: Project) -> None:
    defs = project.definitions()
    assert defs.resolve_sensor_def(SENSOR).job_name == JOB
    first = tick(project, None)
    assert months(first) == ["2024-07", "2024-08"]
    august = next(r for r in first.run_requests or [] if r.partition_key == "2024-08")
    result = defs.resolve_job_def(JOB).execute_in_process(partition_key=august.partition_key)
    assert result.success
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {
        "rows_valid",
        "cost_conserved",
        "discounted_cost_matches",
        "matches_cloudzero",
        "no_double_count",
    }
    assert (
        len(SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08"))
        == 250
    )


def test_same_listing_requests_nothing(project: Project) -> None:
    first = tick(project, None)
    again = tick(project, first.cursor)
    assert again.run_requests == [] or again.run_requests is None
    assert again.skip_reason is not None and "no new or changed files" in (
        again.skip_reason.skip_message or ""
    )
    assert again.cursor == first.cursor


def test_changed_redelivered_and_removed_files_trigger_again(project: Project) -> None:
    first = tick(project, None)
    first_keys = {r.partition_key: r.run_key for r in first.run_requests or []}
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    day.write_text(day.read_text().replace("12.00", "112.00"))
    changed = tick(project, first.cursor)
    assert months(changed) == ["2024-08"]
    assert changed.run_requests[0].run_key != first_keys["2024-08"]  # type: ignore[index]

    # The same file delivered again (same content, new modification time) is a new delivery.
    stat = day.stat()
    os.utime(day, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    redelivered = tick(project, changed.cursor)
    assert months(redelivered) == ["2024-08"]
    assert redelivered.run_requests[0].run_key != changed.run_requests[0].run_key  # type: ignore[index]

    (project.data_dir / "simple_cloud_2024-07-03.csv").unlink()
    removed = tick(project, redelivered.cursor)
    assert months(removed) == ["2024-07"]


def _one_row_export(project: Project, day: str) -> None:
    """A new export file of the sample vendor holding one usage row dated `day`."""
    (project.data_dir / f"simple_cloud_{day}.csv").write_text(
        f"date,service,account,charge_type,amount\n{day},Compute,prod-001,usage,1.00\n"
    )


def test_a_file_before_start_month_is_reported_not_failed(project: Project) -> None:
    first = tick(project, None)
    _one_row_export(project, "2023-12-31")
    old = tick(project, first.cursor)
    assert months(old) == []
    assert "2023-12" in (old.skip_reason.skip_message or "")  # type: ignore[union-attr]
    # Remembered: the next tick does not report it again.
    assert "2023-12" not in (tick(project, old.cursor).skip_reason.skip_message or "")  # type: ignore[union-attr]


def test_a_file_whose_times_cannot_be_read_does_not_break_the_sensor(project: Project) -> None:
    first = tick(project, None)
    _one_row_export(project, "2024-08-32")
    result = tick(project, first.cursor)
    # In no month of its own: the newest month is requested, so a run shows the problem
    # (test_sensor_content.py follows it until the file is fixed).
    newest = project.definitions().resolve_job_def(JOB).partitions_def.get_partition_keys()[-1]  # type: ignore[union-attr]
    assert months(result) == [newest]


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        (datetime(2024, 8, 3, 6, tzinfo=timezone.utc), 5, ["2024-07", "2024-08"]),
        (datetime(2024, 8, 5, 23, tzinfo=timezone.utc), 5, ["2024-07", "2024-08"]),
        (datetime(2024, 8, 6, 0, tzinfo=timezone.utc), 5, ["2024-08"]),
        (datetime(2024, 1, 2, 6, tzinfo=timezone.utc), 5, ["2023-12", "2024-01"]),
        (datetime(2024, 8, 1, 6, tzinfo=timezone.utc), 0, ["2024-08"]),
        (datetime(2023, 1, 1, 6, tzinfo=timezone.utc), 5, []),  # before start_month 2023-06
    ],
)
def test_refresh_months(now: datetime, days: int, expected: list[str]) -> None:
    assert refresh_months(now, days, "2023-06") == expected


def _warehouse(project: Project, folder, **keys: object) -> dg.Definitions:
    """The example project with an (empty) SQLite source `warehouse` beside its files."""
    import sqlite3

    with sqlite3.connect(folder / "costs.db") as db:
        db.execute("CREATE TABLE costs (date TEXT, amount TEXT)")
    config = project.config()
    config["sources"]["warehouse"] = {
        "connection": "simple_cloud_main",
        "kind": "sql",
        "url": f"sqlite:///{folder / 'costs.db'}",
        "query": "SELECT * FROM costs WHERE date >= :start AND date < :end",
        "columns": {"time/usage_start": "date", "cost/cost": "amount"},
        **keys,
    }
    project.write_config(config)
    return project.definitions()


def test_pulled_sources_get_a_refresh_schedule(project: Project, tmp_path) -> None:
    defs = _warehouse(project, tmp_path, refresh={"cron": "30 4 * * *", "previous_month_days": 3})
    repository = defs.get_repository_def()
    assert [s.name for s in repository.schedule_defs] == [
        "refresh_warehouse"
    ]  # files: a sensor, no schedule
    schedule = defs.resolve_schedule_def("refresh_warehouse")
    assert schedule.cron_schedule == "30 4 * * *" and schedule.job_name == JOB
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 9, 2, 4, 30, tzinfo=timezone.utc),
        repository_def=repository,
    )
    requests = schedule.evaluate_tick(context).run_requests or []
    assert [r.partition_key for r in requests] == ["2024-08", "2024-09"]
    assert len({r.run_key for r in requests}) == 2
    # The requested run pulls the (empty) database month together with the files source.
    result = defs.resolve_job_def(JOB).execute_in_process(partition_key="2024-08")
    assert result.success
    raw = result.asset_materializations_for_node("raw__warehouse")[0].metadata
    assert raw["rows"].value == 0


def test_a_source_that_settles_later_is_pulled_until_its_month_is_final(
    project: Project, tmp_path
) -> None:
    """`settles.after_days: 15` (Datadog's historical cost, ready mid-month): the schedule
    pulls the previous month on days 1–16 (the 16th pulls its final figures), not after."""
    defs = _warehouse(project, tmp_path, settles={"after_days": 15})
    schedule = defs.resolve_schedule_def("refresh_warehouse")
    assert "on days 1–16, the previous month" in (schedule.description or "")

    def months_on(day: int) -> list[str | None]:
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2024, 9, day, 6, tzinfo=timezone.utc),
            repository_def=defs.get_repository_def(),
        )
        return [r.partition_key for r in schedule.evaluate_tick(context).run_requests or []]

    assert months_on(16) == ["2024-08", "2024-09"]
    assert months_on(17) == ["2024-09"]
