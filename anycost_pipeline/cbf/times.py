"""Source timestamps to the UTC hour CloudZero files the usage under."""

import functools
import re
from collections.abc import Sequence

import polars as pl

# Tried in order when a source declares no format. Naive forms are in the source's time zone.
NAIVE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
UTC_FORMATS: tuple[str, ...] = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M:%SZ")
OFFSET_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%:z",
)
CBF_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Names a source may use in `time_format` instead of a strftime pattern.
NAMED_FORMATS: dict[str, tuple[str, ...]] = {
    "iso": (),  # the ISO forms above
    "YYYY-MM-DD": ("%Y-%m-%d",),
    "M/D/YYYY": ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"),
    "M/D/YY": ("%m/%d/%y", "%m/%d/%y %H:%M", "%m/%d/%y %H:%M:%S"),
    "D.M.YYYY": ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"),
    "epoch_seconds": (),
    "epoch_millis": (),
}
AMBIGUOUS_POLICIES = ("reject", "earliest", "latest")


# strftime directives that carry a time of day or an offset; a format with none names a date.
_TIME_DIRECTIVES = re.compile(r"%[-_0^#]?[HIklMSTRrXcsfpPzZ]|%\.?[0-9]?f|%:z|%#z")
# Where a wall time does not exist (clocks jump forward, as at midnight in Santiago, Cairo,
# Havana or Asuncion), the first wall time after the gap: daylight-saving gaps last 30 minutes to
# 2 hours.
_GAP_STEPS_MINUTES = (30, 60, 90, 120)


def is_date_only(fmt: str) -> bool:
    """Whether a strftime pattern names a day, with no time of day."""
    return not _TIME_DIRECTIVES.search(fmt)


def _naive(text: pl.Expr, fmt: str, zone: str, ambiguous: str) -> pl.Expr:
    parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if is_date_only(fmt):
        return local_day_start(parsed, zone)
    return _localise(parsed, zone, ambiguous)


def _localise(parsed: pl.Expr, zone: str, ambiguous: str) -> pl.Expr:
    # A local time that does not exist (spring forward) is always null here, and so is one that
    # happens twice (fall back) unless the source declared which of the two it means: the
    # caller reports both rather than guessing.
    policy = "null" if ambiguous == "reject" else ambiguous
    return parsed.dt.replace_time_zone(
        zone, ambiguous=policy, non_existent="null"
    ).dt.convert_time_zone("UTC")


def first_instant(wall: pl.Expr, zone: str) -> pl.Expr:
    """The first instant (UTC) at or after each naive local wall time.

    A wall time that happens twice (clocks go back) is its first occurrence; one that does not
    exist (clocks jump forward) becomes the first wall time after the gap.
    """
    zoned = wall.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    if zone == "UTC":
        return zoned
    later = [
        (wall + pl.duration(minutes=m)).dt.replace_time_zone(
            zone, ambiguous="earliest", non_existent="null"
        )
        for m in _GAP_STEPS_MINUTES
    ]
    # Longer gaps (Antarctic stations changing zone: 3 to 7 hours) end at the instant the clock
    # would have shown the wall time under the offset in force before the gap.
    before = (wall - pl.duration(hours=12)).dt.replace_time_zone(
        zone, ambiguous="earliest", non_existent="null"
    )
    offset = before.dt.base_utc_offset() + before.dt.dst_offset()
    # (The offsets are in milliseconds: keep the wall time's microseconds.)
    jump = (wall - offset).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return pl.coalesce(*[z.dt.convert_time_zone("UTC") for z in (zoned, *later)], jump)


def local_day_start(midnight: pl.Expr, zone: str) -> pl.Expr:
    """The first instant (UTC) of each local day given as a naive midnight.

    A date names a whole day, so it is never refused for a daylight-saving change: where
    midnight happens twice (clocks go back at 01:00 to 00:00) the day starts at the first of
    the two, and where it does not exist (clocks jump from 00:00 to 01:00) at the first wall
    time after the gap. A day that a zone skipped altogether (Apia, 30 December 2011) is null.
    """
    start = first_instant(midnight, zone)
    if zone == "UTC":
        return start
    # A gap longer than the day itself would put the start on the next day.
    same_day = start.dt.convert_time_zone(zone).dt.date() == midnight.dt.date()
    return pl.when(same_day).then(start)


# Every ISO 8601 date or date-time as vendors write it: extended (`2024-11-13T10:00:00Z`) or basic
# (`20241113T100000Z`) form; minutes and seconds optional (`T10:00Z`, as OCI writes, or `T10Z`);
# a fraction after `.` or `,` of any length; `T`, `t` or a space between date and time; an
# offset `Z`, `±hh:mm`, `±hhmm` or `±hh` (a space before it allowed, as SQL Server writes), or
# `UTC` (as BigQuery writes); or a date alone.
_ISO_8601 = (
    r"^(?<date>\d{4}-\d{2}-\d{2}|\d{8})"
    r"(?:[Tt ](?<hour>\d{2})(?::?(?<minute>\d{2})(?::?(?<second>\d{2})"
    r"(?:[.,](?<fraction>\d{1,9})\d*)?)?)?"
    r"(?:\s?(?<zulu>[Zz]|UTC)|\s?(?<sign>[+-])(?<oh>\d{2})(?::?(?<om>\d{2}))?)?)?$"
)


def _iso_8601(text: pl.Expr, zone: str, ambiguous: str) -> pl.Expr:
    """Any ISO 8601 form, rewritten to one canonical text and read as such (null if not ISO)."""
    parts = text.str.extract_groups(_ISO_8601)
    field = parts.struct.field
    day = field("date").str.replace(r"^(\d{4})(\d{2})(\d{2})$", "$1-$2-$3")
    clock = pl.concat_str(
        day,
        pl.lit("T"),
        field("hour"),
        pl.lit(":"),
        field("minute").fill_null("00"),
        pl.lit(":"),
        field("second").fill_null("00"),
        pl.lit("."),
        field("fraction").fill_null("0"),
    )
    offset = (
        pl.when(field("zulu").is_not_null())
        .then(pl.lit("+00:00"))
        .when(field("sign").is_not_null())
        .then(pl.concat_str(field("sign"), field("oh"), pl.lit(":"), field("om").fill_null("00")))
    )
    wall = clock.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False)
    fixed = pl.concat_str(clock, offset).str.strptime(
        pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False
    )
    midnight = day.str.strptime(pl.Datetime("us"), "%Y-%m-%d", strict=False)
    return (
        pl.when(field("hour").is_null())
        .then(local_day_start(midnight, zone))
        .when(offset.is_null())
        .then(_localise(wall, zone, ambiguous))
        .otherwise(fixed)
    )


def _iso(text: pl.Expr, zone: str, ambiguous: str) -> list[pl.Expr]:
    """The ISO readers, the usual forms first (each alone is fast), every other ISO form last."""
    return [
        *[_naive(text, fmt, zone, ambiguous) for fmt in NAIVE_FORMATS],
        *[
            text.str.strptime(pl.Datetime("us"), fmt, strict=False).dt.replace_time_zone("UTC")
            for fmt in UTC_FORMATS
        ],
        *[
            text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False).dt.convert_time_zone(
                "UTC"
            )
            for fmt in OFFSET_FORMATS
        ],
        _iso_8601(text, zone, ambiguous),
    ]


def _epoch(text: pl.Expr, micros_per_unit: int) -> pl.Expr:
    # Whole numbers only: a float epoch ("1.7e9") would not be exact.
    longest = 11 if micros_per_unit == 1_000_000 else 14
    digits = pl.when(text.str.contains(rf"^-?\d{{1,{longest}}}$")).then(text)
    micros = digits.cast(pl.Int64, strict=False) * micros_per_unit
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _parsers(text: pl.Expr, zone: str, fmt: str, ambiguous: str) -> list[pl.Expr]:
    if fmt == "iso":
        return _iso(text, zone, ambiguous)
    if fmt == "epoch_seconds":
        return [_epoch(text, 1_000_000)]
    if fmt == "epoch_millis":
        return [_epoch(text, 1_000)]
    patterns = NAMED_FORMATS.get(fmt) or (fmt,)
    out = []
    for pattern in patterns:
        if "%z" in pattern or "%:z" in pattern:
            out.append(text.str.strptime(pl.Datetime("us", "UTC"), pattern, strict=False))
        else:
            out.append(_naive(text, pattern, zone, ambiguous))
    return out


def utc_time(
    text: pl.Expr,
    zone: str,
    time_format: str | Sequence[str] | None = None,
    ambiguous: str = "reject",
) -> pl.Expr:
    """The UTC instant (Datetime, tz UTC) of each source timestamp; null where it cannot be read.

    `time_format` is one format or a list tried in order: a name from NAMED_FORMATS (`iso`,
    `YYYY-MM-DD`, `M/D/YYYY`, `epoch_seconds`, ...) or a strftime pattern. Default: `iso`.
    """
    text = text.cast(pl.String).str.strip_chars()
    formats = [time_format] if isinstance(time_format, str) else list(time_format or ["iso"])
    parsers = [p for fmt in formats for p in _parsers(text, zone, fmt, ambiguous)]
    return pl.coalesce(*parsers) if len(parsers) > 1 else parsers[0]


def utc_hour(
    text: pl.Expr,
    zone: str,
    time_format: str | Sequence[str] | None = None,
    ambiguous: str = "reject",
) -> pl.Expr:
    """The UTC hour (Datetime, tz UTC) of each source timestamp; null where it cannot be read."""
    return utc_time(text, zone, time_format, ambiguous).dt.truncate("1h")


SAMPLE_ROWS = 100
DISTINCT_PROBE = 10_000


def utc_hours(
    frame: pl.DataFrame,
    text: pl.Expr,
    zone: str,
    time_format: str | Sequence[str] | None = None,
    ambiguous: str = "reject",
) -> pl.Series:
    """`utc_hour` of `text` over `frame`, as a Series; faster than the expression on large frames.

    Exports repeat their times (a month has at most 744 hours and 31 days), so a column of local
    times whose first rows repeat is read once per distinct text and the hours joined back. Without a
    declared format every ISO form would be tried on every text. An export writes one form, so
    the first form that reads a sample of the first values is applied alone: a text that two
    forms both read (`…:07` with or without fraction, `Z` or `+00:00`) is the same instant either
    way. If any text is then left unread, the whole column is read the full way, so the result
    is always that of `utc_hour`.
    """
    texts = frame.select(text.cast(pl.String).str.strip_chars().alias("t"))
    probe = texts.head(DISTINCT_PROBE)
    # Time zone rules are the slow part of reading a local time; UTC texts parse as fast as a join.
    if zone != "UTC" and texts.height > SAMPLE_ROWS and probe.n_unique() * 4 <= probe.height:
        distinct = texts.unique()
        hours = _hours_of(distinct, zone, time_format, ambiguous)
        mapping = distinct.with_columns(hours.alias("_h"))
        return texts.join(mapping, on="t", how="left", maintain_order="left").get_column("_h")
    return _hours_of(texts, zone, time_format, ambiguous)


def _hours_of(
    texts: pl.DataFrame, zone: str, time_format: str | Sequence[str] | None, ambiguous: str
) -> pl.Series:
    """`utc_hour` of the column `t` of `texts` (already stripped)."""
    formats = (
        time_format if time_format is None or isinstance(time_format, str) else tuple(time_format)
    )
    if formats not in (None, "iso", ("iso",)):
        return texts.select(_full_hour(zone, formats, ambiguous)).to_series()
    sample = texts.drop_nulls().head(SAMPLE_ROWS)
    for parser in _iso_readers(zone, ambiguous):
        if sample.height and sample.select(parser.null_count()).item() == 0:
            hours = texts.select(parser.dt.truncate("1h")).to_series()
            if hours.null_count() == texts.get_column("t").null_count():
                return hours
            break
    return texts.select(_full_hour(zone, formats, ambiguous)).to_series()


# A month of daily files reads each file's times: the expressions (dozens of parsers, each
# with its zone's rules) are built once per zone, not once per file.
@functools.cache
def _iso_readers(zone: str, ambiguous: str) -> tuple[pl.Expr, ...]:
    return tuple(_iso(pl.col("t"), zone, ambiguous))


@functools.cache
def _full_hour(zone: str, formats: str | tuple[str, ...] | None, ambiguous: str) -> pl.Expr:
    return utc_hour(pl.col("t"), zone, formats, ambiguous)


def describe_formats(time_format: str | Sequence[str] | None) -> str:
    """The declared formats as a user reads them in an error message."""
    formats = [time_format] if isinstance(time_format, str) else list(time_format or [])
    if not formats or formats == ["iso"]:
        return " (ISO date or date-time expected)"
    return f" with format {' or '.join(map(repr, formats))}"


def cbf_time(hour: pl.Expr) -> pl.Expr:
    """A UTC datetime as CBF text, e.g. 2024-08-16T13:00:00Z."""
    return hour.dt.strftime(CBF_TIME_FORMAT)
