"""Schedules: one per pulled source (http, sql, or incremental). Each refreshes the current
month, and during the first days of a month the previous one too (late and restated charges)."""

from datetime import datetime, timezone

import dagster as dg

from anycost_pipeline.config import AnycostConfig, AnySource
from anycost_pipeline.connection_state import estimated_months
from anycost_pipeline.defs.names import (
    SOURCE_TAG,
    TRIGGER_TAG,
    connection_job_name,
    schedule_name,
)
from anycost_pipeline.triggers import refresh_months


def refresh_schedule(name: str, source: AnySource, project: AnycostConfig) -> dg.ScheduleDefinition:
    refresh, days = source.refresh, source.previous_month_days

    @dg.schedule(
        name=schedule_name(name),
        cron_schedule=refresh.cron,
        job_name=connection_job_name(source.connection),
        execution_timezone="UTC",
        description=(
            f"Pulls source `{name}` and sends the current month (and, on days 1–{days}, "
            f"the previous month) to connection `{source.connection}`"
            + (
                "; also every month of the last year last sent `estimated` (rows not invoiced)."
                if source.settles is not None and source.settles.when is not None
                else "."
            )
        ),
    )
    def _refresh(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = (context.scheduled_execution_time or datetime.now(timezone.utc)).astimezone(
            timezone.utc
        )
        months = set(refresh_months(now, days, project.start_month))
        if source.settles is not None and source.settles.when is not None:
            # A month whose rows are not all invoiced yet stays open past its days: pulled
            # until it is final, for up to a year.
            year_ago = max(project.start_month, f"{now.year - 1:04d}-{now.month:02d}")
            months.update(estimated_months(project, source.connection, year_ago))
        return [
            dg.RunRequest(
                run_key=f"{name}:{month}:{now:%Y-%m-%dT%H:%M}",
                partition_key=month,
                tags={SOURCE_TAG: name, TRIGGER_TAG: "schedule"},
            )
            for month in sorted(m for m in months if m <= f"{now:%Y-%m}")
        ]

    return _refresh
