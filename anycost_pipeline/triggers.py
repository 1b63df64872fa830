"""What the sensors and schedules do with a source's months, and what they never do, in words
for `anycost validate`, the sensors' descriptions and their logs.

A `sum` connection adds every month it is sent to what CloudZero holds; the files sensor sends a
month whole each time one of its files changes. Fed by a files source that is not incremental
(its files are the whole month, every file each time), each new file adds the month again.

A schedule's tick pulls the current month, and on days 1..previous_month_days the previous
one: the hours of a month after its last tick are pulled only if a tick of the next month falls
on one of those days.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from anycost_pipeline.config import AnycostConfig, AnySource, FilesSource
from anycost_pipeline.months import Month


def sum_resend_warning(name: str, source: AnySource, project: AnycostConfig) -> str | None:
    """The warning for a non-incremental files source on a `sum` connection, else None."""
    connection = project.connections.get(source.connection)
    if not isinstance(source, FilesSource) or source.incremental or connection is None:
        return None
    if connection.operation != "sum":
        return None
    return (
        f"source {name} feeds connection {source.connection}, whose operation is sum, and is "
        "not incremental: its files are read whole for a month, so each time a file of the "
        f"month is new or changed the sensor watch_{name} sends the whole month again and "
        "CloudZero adds it to what it holds (the month's cost counted once more at every new "
        "file). Use operation replace_drop for exports that restate the month, or "
        "`incremental: true` with a `key` for files that only hold new charges; else leave "
        f"the sensor watch_{name} off and send each month once"
    )


def refresh_months(now: datetime, previous_month_days: int, start_month: str) -> list[str]:
    """The months a refresh at `now` (UTC) pulls: the current one, plus the previous one while
    the current month's day is at most `previous_month_days`; never before start_month."""
    current = Month(now.year, now.month)
    months = [current]
    if now.day <= previous_month_days:
        months.insert(0, current.previous())
    return [str(m) for m in months if str(m) >= start_month]


@dataclass(frozen=True)
class Gap:
    """A month whose last hours no tick pulls: the last tick that pulls it, and what is left."""

    month: str
    last_pull: datetime | None  # None: no tick in the month nor on a day that pulls it after
    unpulled: timedelta


def refresh_gaps(
    cron: str, previous_month_days: int, start: datetime, months: int = 12
) -> list[Gap]:
    """The months among the `months` after `start` (UTC) whose end no tick of `cron` pulls."""
    from dagster._utils.schedules import cron_string_iterator  # the schedule's own clock

    first = Month(start.year, start.month).next()
    last = first
    for _ in range(months - 1):
        last = last.next()
    pulls: dict[str, list[datetime]] = {}
    ticks = cron_string_iterator(first.start.timestamp(), cron, "UTC")
    for tick in ticks:
        tick = tick.astimezone(timezone.utc)
        if tick >= last.next().end:
            break
        for month in refresh_months(tick, previous_month_days, "0000-00"):
            pulls.setdefault(month, []).append(tick)
    gaps = []
    month = first
    while month <= last:
        latest = max(pulls.get(str(month), []), default=None)
        if latest is None or latest < month.end:
            unpulled = month.end - latest if latest else month.end - month.start
            gaps.append(Gap(str(month), latest, unpulled))
        month = month.next()
    return gaps


def _duration(span: timedelta) -> str:
    days, hours = span.days, span.seconds // 3600
    minutes = span.seconds % 3600 // 60
    parts = [f"{days} day{'s' * (days != 1)}"] if days else []
    parts += [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes else []
    return " ".join(parts) or "less than a minute"


def refresh_warning(name: str, source: AnySource, now: datetime | None = None) -> str | None:
    """A warning naming the months of the next year whose end the source's schedule never
    pulls, and how much of each, else None."""
    refresh = source.refresh
    gaps = refresh_gaps(refresh.cron, source.previous_month_days, now or datetime.now(timezone.utc))
    if not gaps:
        return None
    worst = max(gaps, key=lambda g: g.unpulled)
    shown = ", ".join(g.month for g in gaps[:6]) + (", ..." if len(gaps) > 6 else "")
    last = (
        f"its last pull is {worst.last_pull:%a %Y-%m-%d %H:%M} UTC"
        if worst.last_pull
        else "no tick pulls it"
    )
    return (
        f"source {name}: refresh.cron {refresh.cron!r} with previous_month_days "
        f"{source.previous_month_days} never pulls the end of {len(gaps)} of the next 12 "
        f"months ({shown}): charges dated after a month's last pull are never pulled and never "
        f"sent; e.g. {worst.month}: {last}, so its last {_duration(worst.unpulled)} are never "
        "pulled. Refresh daily and set previous_month_days to at least 1 (or, with a weekly "
        "cron, at least 7), so that a tick early in each month pulls the month before"
    )
