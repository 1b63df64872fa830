"""Schedules: one per pulled source (http, sql, or incremental). Each refreshes the current
month, and during the first days of a month the previous one too (late and restated charges)."""

from datetime import datetime, timezone

import dagster as dg

from anycost_pipeline.config import AnycostConfig, AnySource
from anycost_pipeline.defs.names import (
    SOURCE_TAG,
    TRIGGER_TAG,
    connection_job_name,
    schedule_name,
)
from anycost_pipeline.months import Month


def refresh_months(now: datetime, previous_month_days: int, start_month: str) -> list[str]:
    """The months a refresh at `now` (UTC) pulls: the current one, plus the previous one while
    the current month's day is at most `previous_month_days`; never before start_month."""
    current = Month(now.year, now.month)
    months = [current]
    if now.day <= previous_month_days:
        months.insert(
            0, Month(now.year - (now.month == 1), 12 if now.month == 1 else now.month - 1)
        )
    return [str(m) for m in months if str(m) >= start_month]


def refresh_schedule(name: str, source: AnySource, project: AnycostConfig) -> dg.ScheduleDefinition:
    refresh = source.refresh

    @dg.schedule(
        name=schedule_name(name),
        cron_schedule=refresh.cron,
        job_name=connection_job_name(source.connection),
        execution_timezone="UTC",
        description=(
            f"Pulls source `{name}` and sends the current month (and, on days 1–{refresh.previous_month_days}, "
            f"the previous month) to connection `{source.connection}`."
        ),
    )
    def _refresh(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = (context.scheduled_execution_time or datetime.now(timezone.utc)).astimezone(
            timezone.utc
        )
        return [
            dg.RunRequest(
                run_key=f"{name}:{month}:{now:%Y-%m-%dT%H:%M}",
                partition_key=month,
                tags={SOURCE_TAG: name, TRIGGER_TAG: "schedule"},
            )
            for month in refresh_months(now, refresh.previous_month_days, project.start_month)
        ]

    return _refresh
