"""`anycost validate` warns of what the sensors and schedules would send twice or never: a
non-incremental files source on a `sum` connection (each new file adds the month again), a
refresh cron whose ticks never pull the end of a month; a cron Dagster cannot run is refused
when the configuration is read."""

from datetime import datetime, timedelta, timezone

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.triggers import refresh_gaps
from anycost_pipeline_tests.conftest import Project


def _validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _pulled_source(project: Project, tmp_path, refresh: dict) -> None:
    config = project.config()
    config["sources"]["warehouse"] = {
        "connection": "simple_cloud_main",
        "kind": "sql",
        "url": f"sqlite:///{tmp_path / 'costs.db'}",
        "query": "SELECT * FROM costs WHERE date >= :start AND date < :end",
        "columns": {"time/usage_start": "date", "cost/cost": "amount"},
        "refresh": refresh,
    }
    project.write_config(config)


def test_the_sample_project_has_no_warning(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _validate(capsys)
    assert code == 0 and "warning" not in out


def test_a_whole_files_source_on_a_sum_connection_is_warned_about(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.config()
    config["connections"]["simple_cloud_main"]["operation"] = "sum"
    project.write_config(config)
    code, out = _validate(capsys)
    assert code == 0
    assert "1 warning" in out
    assert "source simple_cloud feeds connection simple_cloud_main" in out
    assert "operation is sum" in out and "watch_simple_cloud" in out
    # The sensor says so too, where an operator turns it on.
    description = project.definitions().resolve_sensor_def("watch_simple_cloud").description
    assert "WARNING" in (description or "") and "simple_cloud_main" in (description or "")

    config["sources"]["simple_cloud"].update(incremental=True, key=["date", "service"])
    project.write_config(config)
    assert "warning" not in _validate(capsys)[1]


def test_a_daily_refresh_that_never_pulls_the_previous_month_is_warned_about(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    _pulled_source(project, tmp_path, {"cron": "0 6 * * *", "previous_month_days": 0})
    code, out = _validate(capsys)
    assert code == 0 and "1 warning" in out
    assert "source warehouse: refresh.cron '0 6 * * *' with previous_month_days 0" in out
    assert "never pulls the end of 12 of the next 12 months" in out
    assert "its last 18 hours are never pulled" in out


def test_a_weekly_refresh_misses_the_end_of_some_months(tmp_path) -> None:
    start = datetime(2026, 12, 6, tzinfo=timezone.utc)
    gaps = refresh_gaps("0 6 * * 1", 5, start)  # Mondays; the previous month on days 1-5
    # A month whose next month's first Monday is its 6th or 7th: its last Monday's pull is
    # the last.
    assert [(g.month, g.unpulled) for g in gaps] == [
        ("2027-05", timedelta(hours=18)),
        ("2027-08", timedelta(days=1, hours=18)),
        ("2027-11", timedelta(days=1, hours=18)),
    ]
    assert refresh_gaps("0 6 * * 1", 7, start) == []  # a Monday always falls on days 1-7
    assert refresh_gaps("0 6 * * *", 1, start) == []


def test_a_cron_dagster_cannot_run_is_refused_when_the_configuration_is_read(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    _pulled_source(project, tmp_path, {"cron": "0 6 * *"})
    code, out = _validate(capsys)
    assert code == 1
    assert "sources.warehouse.refresh.cron" in out and "'0 6 * *'" in out
    assert "Traceback" not in out and "DagsterInvalidDefinitionError" not in out
