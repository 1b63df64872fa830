"""Usage hours: each source row's UTC hour, the months a source's rows (and its spread charges)
fall in, where each charge ends, and the rows of one month."""

from collections.abc import Sequence

import polars as pl

from anycost_pipeline.cbf.columns import USAGE_START
from anycost_pipeline.cbf.corrections import book_hours
from anycost_pipeline.cbf.errors import problem_frame, raise_problems, require_columns
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.spread import END, charge_end, whole_end
from anycost_pipeline.cbf.times import describe_formats, utc_hours, utc_time
from anycost_pipeline.months import Month

HOUR = "_hour"


def with_usage_hour(
    frame: pl.DataFrame,
    source: str,
    time_column: str,
    zone: str,
    time_format: str | Sequence[str] | None,
    ambiguous: str = "reject",
) -> pl.DataFrame:
    """Add the UTC hour of each row; fail naming every timestamp that cannot be read."""
    framed, problems = usage_hours(frame, source, time_column, zone, time_format, ambiguous)
    raise_problems(source, problems)
    return framed


def row_hours(
    frame: pl.DataFrame, source: str, options: MappingOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The hour each row of a source belongs to (`_hour`), and the rows whose time or billed
    month cannot be read: where every caller (the reader, the file index and sensors, the plan)
    decides a row's month, so they never disagree. Its usage hour, except a correction under
    `corrections.policy: book_forward`, which goes to the first hour of its billed month."""
    time = options.columns[USAGE_START]
    column = getattr(time, "column", None)
    assert isinstance(column, str), "a source's time/usage_start comes from one column"
    framed, problems = usage_hours(
        frame, source, column, options.timezone, options.time_format, options.ambiguous_time
    )
    framed, unbilled = book_hours(framed, source, options.corrections, HOUR, options.time_format)
    if unbilled.height:
        problems = pl.concat([problems, unbilled])
    return framed, problems


def usage_hours(
    frame: pl.DataFrame,
    source: str,
    time_column: str,
    zone: str,
    time_format: str | Sequence[str] | None,
    ambiguous: str = "reject",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add the UTC hour of each row (null where the time cannot be read), and those problems.

    Rows where every source column is empty (blank lines in a CSV) hold nothing and are left out.
    """
    require_columns(frame, source, [time_column])
    data = [c for c in frame.columns if not c.startswith("_")]
    if data and not _never_blank(frame, data):
        frame = frame.filter(
            ~pl.all_horizontal(
                pl.col(c).is_null() | (pl.col(c).cast(pl.String) == "") for c in data
            )
        )
    text = pl.col(time_column)
    framed = frame.with_columns(utc_hours(frame, text, zone, time_format, ambiguous).alias(HOUR))
    problems = problem_frame(
        framed,
        pl.col(HOUR).is_null(),
        time_column,
        f"not a timestamp in time zone {zone}"
        + describe_formats(time_format)
        + ", or a local time that does not exist or is ambiguous on a daylight-saving day",
        text,
    )
    return framed, problems


def _never_blank(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether some text column has a value on every row, so that no row can be blank: one look
    at a column's lengths instead of testing every cell of every column."""
    for name in columns:
        column = frame.get_column(name)
        if column.dtype == pl.String and column.null_count() == 0:
            shortest = frame.select(pl.col(name).str.len_bytes().min()).item()
            if shortest is None or shortest > 0:
                return True
    return False


def hour_months() -> pl.Expr:
    """The distinct months (`YYYY-MM`, sorted) of the hours (`_hour`) of a frame's rows, or of
    a group's rows."""
    return pl.col(HOUR).drop_nulls().dt.strftime("%Y-%m").unique().sort()


def months_of(frame: pl.DataFrame, ends: pl.Series | None = None) -> list[str]:
    """The months (`YYYY-MM`, sorted) the rows of a frame from `usage_hours` fall in.

    With `ends` (from `charge_ends`, for a source that spreads its charges), every month a
    charge has hours in: a Tokyo fee of local August is in July and August.
    """
    months = set(frame.select(hour_months()).to_series().to_list())
    if ends is not None:
        last = frame.select(
            (whole_end(pl.col(HOUR), pl.lit(ends)) - pl.duration(hours=1)).alias("last")
        ).to_series()
        spans = pl.DataFrame({"first": frame.get_column(HOUR), "last": last}).drop_nulls()
        for first, final in spans.filter(pl.col("first") != pl.col("last")).unique().iter_rows():
            month = Month(first.year, first.month)
            while month.start <= final:
                months.add(str(month))
                month = month.next()
    return sorted(months)


def charge_ends(frame: pl.DataFrame, options: MappingOptions) -> pl.Series:
    """The exclusive end (UTC) of each row's charge, for a source that spreads its charges
    (`spread`): its `spread.end` column, or a local day or month after its hour (null where
    the end cannot be read: such a row is reported, not spread). Frame from `usage_hours`."""
    spread = options.spread
    assert spread is not None
    if spread.end:
        if spread.end not in frame.columns:
            return pl.Series(END, [None] * frame.height, dtype=pl.Datetime("us", "UTC"))
        text = pl.col(spread.end)
        return frame.select(
            utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
        ).to_series()
    assert spread.over is not None
    # Each distinct hour once: time zone rules are slow, and a month has few hours.
    hours = frame.get_column(HOUR).drop_nulls().unique()
    ends = hours.to_frame().select(charge_end(pl.col(HOUR), options.timezone, spread.over))
    return frame.select(
        pl.col(HOUR).replace_strict(
            hours, ends.to_series(), default=None, return_dtype=pl.Datetime("us", "UTC")
        )
    ).to_series()


def rows_of_month(frame: pl.DataFrame, month: Month, ends: pl.Series | None = None) -> pl.DataFrame:
    """The rows whose UTC hour falls inside the month (frame from `with_usage_hour`).

    `ends` (from `charge_ends`, for a source that spreads its charges) also keeps the rows of
    earlier months whose charge runs into this one: the month holds its hours of the charge.
    """
    hour = pl.col(HOUR)
    if ends is not None:
        end = pl.lit(ends)
        inside = (hour >= month.start) & (hour < month.end)
        into = (hour < month.start) & (whole_end(hour, end) > month.start)
        return frame.filter((inside | into).fill_null(False))
    kind = frame.schema.get(HOUR)
    if isinstance(kind, pl.Datetime) and kind.time_zone is not None:
        first, last, unread = frame.select(
            hour.min().alias("first"), hour.max().alias("last"), hour.null_count().alias("unread")
        ).row(0)
        if not unread and (first is None or (first >= month.start and last < month.end)):
            return frame  # the usual case, an export of one month: nothing to leave out, so no copy
    return frame.filter((hour >= month.start) & (hour < month.end))
