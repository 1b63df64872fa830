"""The refresh schedule re-pulls a month until it is final: by date, and by a `when` rule."""

import sqlite3
from datetime import datetime, timezone

import dagster as dg
import pytest

from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline.defs.names import drop_op
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.defs.test_triggers import JOB, _warehouse


def test_a_month_not_final_by_its_when_rule_is_still_pulled_by_the_schedule(
    project: Project, tmp_path
) -> None:
    """A month sent `estimated` because a row has no invoice id yet is pulled on 2024-09-10,
    past its after_days: the invoice may come any day."""
    defs = _warehouse(
        project,
        tmp_path,
        settles={"after_days": 3, "when": "bill/invoice_id"},
        columns={"time/usage_start": "date", "cost/cost": "amount", "bill/invoice_id": "invoice"},
    )
    with sqlite3.connect(tmp_path / "costs.db") as db:
        db.execute("ALTER TABLE costs ADD COLUMN invoice TEXT")
        db.execute("INSERT INTO costs VALUES ('2024-08-05', '10.00', NULL)")
    result = defs.resolve_job_def(JOB).execute_in_process(partition_key="2024-08")
    assert result.success
    drop = result.asset_materializations_for_node(drop_op("simple_cloud_main"))[0].metadata
    assert drop["settled"].value.startswith("estimated: source warehouse: 1 row of 1 not yet")

    schedule = defs.resolve_schedule_def("refresh_warehouse")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 9, 10, 6, tzinfo=timezone.utc),
        repository_def=defs.get_repository_def(),
    )
    months = [r.partition_key for r in schedule.evaluate_tick(context).run_requests or []]
    assert "2024-08" in months, months  # still estimated: its invoice may come any day
    assert months == ["2024-08", "2024-09"]


def test_the_schedule_pulls_a_month_once_it_is_final_at_the_longest_settling(
    project: Project, tmp_path
) -> None:
    """`after_days: 27`, the longest allowed: 2024-08 is final from 2024-09-28, the schedule's
    last day for the previous month; 28 would leave the final figures unpulled, and is refused."""
    defs = _warehouse(project, tmp_path, settles={"after_days": 27})
    schedule = defs.resolve_schedule_def("refresh_warehouse")

    def months_on(day: int) -> list[str | None]:
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2024, 9, day, 6, tzinfo=timezone.utc),
            repository_def=defs.get_repository_def(),
        )
        return [r.partition_key for r in schedule.evaluate_tick(context).run_requests or []]

    assert months_on(28) == ["2024-08", "2024-09"]
    config = project.config()
    config["sources"]["warehouse"]["settles"] = {"after_days": 28}
    project.write_config(config)
    with pytest.raises(
        ConfigError, match="settles.after_days: Input should be less than or equal to 27"
    ):
        load_config(project.config_file)
