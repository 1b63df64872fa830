"""What a pulled source (an API, a database) is asked for, so that a UTC month misses nothing.

A month is a UTC month, but a vendor away from UTC answers for its own local dates: asked for
2024-08-01 to 2024-09-01, a vendor in Tokyo returns local August, which leaves out the last
nine UTC hours of August (local 1 September) and adds nine of July's. So the dates asked for
are the local days that hold any hour of the UTC month; the rows outside it are dropped
afterwards, as a files source's are. A charge spread over a local day or month is dated at
its start, which can lie before the UTC month: the window then starts with that day or month.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from anycost_pipeline.cbf.options import Spread
from anycost_pipeline.months import Month


@dataclass(frozen=True)
class PullWindow:
    """From `start` (UTC, inclusive) to `end` (UTC, exclusive), and the same as local dates."""

    start: datetime
    end: datetime
    first_day: date  # the source's local date of `start`
    end_day: date  # the local day after the last one that holds an hour before `end`

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)


def pull_window(month: Month, zone_name: str = "UTC", spread: Spread | None = None) -> PullWindow:
    """The window a pull for `month` covers, for a source in `zone_name`."""
    zone = ZoneInfo(zone_name)
    start = month.start
    if spread is not None and spread.over is not None:
        local = start.astimezone(zone)
        first = local.date().replace(day=1) if spread.over == "month" else local.date()
        start = min(start, _first_instant(first, zone))
    last_hour = month.end - timedelta(hours=1)
    return PullWindow(
        start=start,
        end=month.end,
        first_day=start.astimezone(zone).date(),
        end_day=last_hour.astimezone(zone).date() + timedelta(days=1),
    )


def _first_instant(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC; where the day starts in a DST gap (Santiago,
    Cairo), midnight read with the offset before the gap is the gap's end, that first instant."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc)
