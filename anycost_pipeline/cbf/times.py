"""Source timestamps to the UTC hour CloudZero files the usage under."""

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
OFFSET_FORMATS: tuple[str, ...] = ("%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%:z")
CBF_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _naive(text: pl.Expr, fmt: str, zone: str) -> pl.Expr:
    parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    # A local time that does not exist or happens twice on a daylight-saving day becomes null
    # here and is reported by the caller rather than guessed.
    return parsed.dt.replace_time_zone(zone, ambiguous="null", non_existent="null").dt.convert_time_zone("UTC")


def utc_hour(text: pl.Expr, zone: str, time_format: str | None = None) -> pl.Expr:
    """The UTC hour (Datetime, tz UTC) of each source timestamp; null where it cannot be read."""
    text = text.str.strip_chars()
    if time_format:
        if "%z" in time_format or "%:z" in time_format:
            parsed = text.str.strptime(pl.Datetime("us", "UTC"), time_format, strict=False)
        else:
            parsed = _naive(text, time_format, zone)
    else:
        parsed = pl.coalesce(
            *[_naive(text, fmt, zone) for fmt in NAIVE_FORMATS],
            *[
                text.str.strptime(pl.Datetime("us"), fmt, strict=False).dt.replace_time_zone("UTC")
                for fmt in UTC_FORMATS
            ],
            *[
                text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False).dt.convert_time_zone("UTC")
                for fmt in OFFSET_FORMATS
            ],
        )
    return parsed.dt.truncate("1h")


def cbf_time(hour: pl.Expr) -> pl.Expr:
    """A UTC datetime as CBF text, e.g. 2024-08-16T13:00:00Z."""
    return hour.dt.strftime(CBF_TIME_FORMAT)
