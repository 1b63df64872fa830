"""Spread a charge covering many hours over those hours (or days) of its month, exactly.

Every amount is cut into whole units of its last decimal (plus `extra_decimals` more). The
part of hour k is floor(units × k / H) − floor(units × (k−1) / H) for a charge of H hours
(a day's part sums its hours): parts differ by at most one unit, the leftover units fall
evenly across the charge, the parts add up to the original to the last digit, and the same
input always gives the same parts.
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


def _parts(value: str | None, hours: list[int], scale: int) -> list[str | None]:
    if value is None:
        return [None] * len(hours)
    if len(hours) == 1:
        return [value]  # not spread: keep the source's text as it is
    units = int(EXACT.scaleb(Decimal(value), scale))
    total = sum(hours)
    out: list[str | None] = []
    done = covered = 0
    for h in hours:
        covered += h
        upto = units * covered // total  # floor of the exact share of the hours so far
        out.append(_text(upto - done, scale))
        done = upto
    return out


def _text(units: int, scale: int) -> str:
    text = format(EXACT.scaleb(Decimal(units), -scale), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _scale(values: pl.Series) -> int:
    fraction = (
        values.drop_nulls().str.split(".").list.get(1, null_on_oob=True).str.len_chars().max()
    )
    return int(fraction or 0)  # type: ignore[arg-type]


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


def spread(
    cbf: pl.DataFrame,
    source: str,
    month: Month,
    *,
    to: str = "hour",
    extra_decimals: int = 6,
    limit: int = ROWS_PER_MONTH,
) -> pl.DataFrame:
    """Rows with `_hour` (start) and `_end` (exclusive end, UTC) become one row per hour or day.

    The charge keeps to its month: it is spread over its hours between its start and the
    earlier of its end and the month's end. A row without an end, or covering one hour, stays
    as it is. Fails, naming the source and the excess, when the month would pass `limit` rows.
    """
    start = pl.col(HOUR)
    floor = pl.col(END).dt.truncate("1h")
    ceiling = pl.when(floor < pl.col(END)).then(floor + pl.duration(hours=1)).otherwise(floor)
    end = pl.min_horizontal(ceiling, pl.lit(month.end))
    end = (
        pl.when(pl.col(END).is_null() | (end <= start))
        .then(start + pl.duration(hours=1))
        .otherwise(end)
    )
    if to == "hour":
        planned = cbf.with_columns(
            pl.datetime_ranges(start, end - pl.duration(hours=1), interval="1h").alias(_STARTS)
        )
        planned = planned.with_columns(
            pl.col(_STARTS).list.eval(pl.element().is_not_null().cast(pl.Int64)).alias(_HOURS)
        )
    else:
        stops = cbf.select(end.alias("_stop")).to_series().to_list()
        plans = [_day_plan(a, b) for a, b in zip(cbf.get_column(HOUR).to_list(), stops)]
        planned = cbf.with_columns(
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
    hours = planned.get_column(_HOURS).to_list()
    for name in [c for c in cbf.columns if c in DECIMAL_COLUMNS]:
        values = cbf.get_column(name)
        scale = _scale(values) + extra_decimals
        parts = [_parts(v, h, scale) for v, h in zip(values.to_list(), hours)]
        planned = planned.with_columns(pl.Series(name, parts, dtype=pl.List(pl.String)))
    spread_columns = [_STARTS, _HOURS, *[c for c in cbf.columns if c in DECIMAL_COLUMNS]]
    planned = planned.with_columns((pl.col(_STARTS).list.len() > 1).alias("_spread"))
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
    return out.drop(_STARTS, _HOURS, "_spread")


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
