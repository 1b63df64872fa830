"""Spread a charge covering many hours over those hours (or days), exactly, month by month.

Every amount is cut into whole units of its last decimal (plus `extra_decimals` more). The
part of hour k is floor(units × k / H) − floor(units × (k−1) / H) for a charge of H hours
(a day's part sums its hours): parts differ by at most one unit, the leftover units fall
evenly across the charge, the parts add up to the original to the last digit, and the same
input always gives the same parts. A charge whose hours fall in two UTC months (a local month
of a vendor in Tokyo, a period running past the month's end) is cut the same way in each: a
month holds the parts of its own hours, and the parts of all months add up to the charge.
"""

from datetime import datetime, timedelta
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.columns import DECIMAL_COLUMNS, ROWS_PER_MONTH, USAGE_START
from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.errors import MappingError
from anycost_pipeline.cbf.times import cbf_time, first_instant, local_day_start
from anycost_pipeline.months import Month

HOUR = "_hour"
END = "_end"
_STARTS = "_part_start"
_HOURS = "_part_hours"
_FIRST = "_part_first"  # hours of the charge before the month's first part
_TOTAL = "_part_total"  # hours of the whole charge


def _parts(value: str | None, lengths: list[int], first: int, total: int, extra: int) -> list:
    """The parts of `value` for consecutive pieces of `lengths` hours of a charge of `total`
    hours, the first piece starting `first` hours after the charge starts."""
    if value is None:
        return [None] * len(lengths)
    if total <= 1:
        return [value]  # not spread: keep the source's text as it is
    scale = _decimals(value) + extra
    units = int(EXACT.scaleb(Decimal(value), scale))
    covered = first
    done = units * covered // total
    out: list[str | None] = []
    for hours in lengths:
        covered += hours
        upto = units * covered // total  # floor of the exact share of the hours so far
        out.append(_text(upto - done, scale))
        done = upto
    return out


def _text(units: int, scale: int) -> str:
    text = format(EXACT.scaleb(Decimal(units), -scale), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimals(value: str) -> int:
    """The row's own decimals, so that its parts never depend on the other rows of its month."""
    return len(value.partition(".")[2])


def charge_end(hour: pl.Expr, zone: str, over: str) -> pl.Expr:
    """The exclusive end (UTC) of a charge starting at `hour` that runs for a local day or month.

    A charge that starts its local day (a date) runs to the start of the next local day (or the
    same day of the next month), so a date in Santiago on the day clocks skip midnight covers
    that day's 23 hours; a charge starting later in its day runs to the same wall time a day or
    a month later.
    """
    step = "1d" if over == "day" else "1mo"
    wall = hour.dt.convert_time_zone(zone).dt.replace_time_zone(None)
    day = wall.dt.truncate("1d")
    return (
        pl.when(hour == local_day_start(day, zone))
        .then(local_day_start(day.dt.offset_by(step), zone))
        .otherwise(first_instant(wall.dt.offset_by(step), zone))
    )


def whole_end(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """The exclusive end of a charge in whole hours: its end rounded up to the hour, and one
    hour after its start where it has no end or ends before it starts."""
    floor = end.dt.truncate("1h")
    ceiling = pl.when(floor < end).then(floor + pl.duration(hours=1)).otherwise(floor)
    return (
        pl.when(end.is_null() | (ceiling <= start))
        .then(start + pl.duration(hours=1))
        .otherwise(ceiling)
    )


def _hours_between(low: pl.Expr, high: pl.Expr) -> pl.Expr:
    return ((high - low).dt.total_seconds() // 3600).cast(pl.Int64)


def spread(
    cbf: pl.DataFrame,
    source: str,
    month: Month,
    *,
    to: str = "hour",
    extra_decimals: int = 6,
    limit: int = ROWS_PER_MONTH,
) -> pl.DataFrame:
    """Rows with `_hour` (start) and `_end` (exclusive end, UTC) become one row per hour or day
    of the month.

    A charge is cut over all its hours, from its start to its end; the month keeps the parts of
    the hours that fall in it, and the other months of the charge hold the rest. A row without
    an end, or covering one hour, stays as it is. Fails, naming the source and the excess, when
    the month would pass `limit` rows.
    """
    start = pl.col(HOUR)
    end = whole_end(start, pl.col(END))
    low = pl.max_horizontal(start, pl.lit(month.start))
    high = pl.min_horizontal(end, pl.lit(month.end))
    planned = cbf.with_columns(
        _hours_between(start, low).alias(_FIRST), _hours_between(start, end).alias(_TOTAL)
    )
    if to == "hour":
        planned = planned.with_columns(
            pl.datetime_ranges(low, high - pl.duration(hours=1), interval="1h").alias(_STARTS)
        )
        planned = planned.with_columns(
            pl.col(_STARTS).list.eval(pl.element().is_not_null().cast(pl.Int64)).alias(_HOURS)
        )
    else:
        bounds = cbf.select(low.alias("_low"), high.alias("_high"))
        plans = [_day_plan(a, b) for a, b in bounds.iter_rows()]
        planned = planned.with_columns(
            pl.Series(_STARTS, [p[0] for p in plans], dtype=pl.List(pl.Datetime("us", "UTC"))),
            pl.Series(_HOURS, [p[1] for p in plans], dtype=pl.List(pl.Int64)),
        )
    rows = int(planned.select(pl.col(_STARTS).list.len().sum()).item() or 0)
    if rows > limit:
        advice = "; spread to days instead (`spread: {to: day}`)" if to == "hour" else ""
        raise MappingError(
            source,
            f"spreading to {to}s makes {rows:,} rows for {month}, {rows - limit:,} more than "
            f"CloudZero's limit of {limit:,} rows per month{advice}",
        )
    plans = planned.select(_HOURS, _FIRST, _TOTAL).rows()
    for name in [c for c in cbf.columns if c in DECIMAL_COLUMNS]:
        values = cbf.get_column(name).to_list()
        parts = [_parts(v, h, a, n, extra_decimals) for v, (h, a, n) in zip(values, plans)]
        planned = planned.with_columns(pl.Series(name, parts, dtype=pl.List(pl.String)))
    spread_columns = [_STARTS, _HOURS, *[c for c in cbf.columns if c in DECIMAL_COLUMNS]]
    planned = planned.with_columns((pl.col(_TOTAL) > 1).alias("_spread"))
    out = planned.explode(spread_columns)
    out = out.with_columns(
        pl.col(_STARTS).alias(HOUR), cbf_time(pl.col(_STARTS)).alias(USAGE_START)
    )
    if "time/usage_end" in out.columns:
        part_end = cbf_time(pl.col(_STARTS) + pl.duration(hours=pl.col(_HOURS)))
        out = out.with_columns(
            pl.when(pl.col("_spread"))
            .then(part_end)
            .otherwise(pl.col("time/usage_end"))
            .alias("time/usage_end")
        )
    return out.drop(_STARTS, _HOURS, _FIRST, _TOTAL, "_spread")


def month_share(
    values: pl.Series, starts: pl.Series, ends: pl.Series, month: Month, extra_decimals: int
) -> pl.Series:
    """Each amount's part in the month, as `spread` cuts it: the whole amount where its charge
    lies inside the month, the parts of the month's hours where it crosses the month's edge.

    Worked out from the charge alone (not by spreading it), to check what `spread` sends.
    """
    start = pl.col("s")
    end = whole_end(start, pl.col("e"))
    low = pl.max_horizontal(start, pl.lit(month.start))
    high = pl.min_horizontal(end, pl.lit(month.end))
    spans = pl.DataFrame({"s": starts, "e": ends}).select(
        _hours_between(start, low).alias("a"),
        _hours_between(start, high).alias("b"),
        _hours_between(start, end).alias("n"),
    )
    out: list[str | None] = []
    for value, (a, b, n) in zip(values.to_list(), spans.iter_rows()):
        if value is None or (a == 0 and b == n):
            out.append(value)
        elif b <= a:
            out.append("0")
        else:
            scale = _decimals(value) + extra_decimals
            units = int(EXACT.scaleb(Decimal(value), scale))
            out.append(_text(units * b // n - units * a // n, scale))
    return pl.Series(values.name, out, dtype=pl.String)


def _day_plan(start: datetime, stop: datetime) -> tuple[list[datetime], list[int]]:
    """The parts of [start, stop) cut at UTC midnights: each part's start and its hours."""
    starts, hours = [], []
    low = start
    while low < stop:
        high = min(low.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1), stop)
        starts.append(low)
        hours.append(int((high - low).total_seconds() // 3600))
        low = high
    return starts, hours
