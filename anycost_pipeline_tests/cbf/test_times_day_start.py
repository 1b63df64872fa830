"""A date means the first instant of that local day, in every zone on every day: checked against
a brute-force search over the zone's clock (Python's zoneinfo) for whole years."""

import zoneinfo
from datetime import date, datetime, timedelta, timezone

import polars as pl
from hypothesis import example, given, settings, strategies as st

from anycost_pipeline.cbf.spread import charge_end
from anycost_pipeline.cbf.times import utc_time

# Zones polars knows (it carries its own copy of the time zone database).
ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))
# Years whose rules both copies of the database agree on (rules change for future years).
YEARS = st.integers(min_value=1990, max_value=2024)


def first_instant_of(day: date, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The first UTC instant whose local date is `day`, or None if the zone skipped the day."""
    midnight = datetime(day.year, day.month, day.day)
    before, after = (
        (midnight + timedelta(hours=h)).replace(tzinfo=zone).utcoffset() for h in (-12, 36)
    )
    if before == after:  # no change of offset near the day: midnight exists once
        return (midnight - before).replace(tzinfo=timezone.utc)  # type: ignore[operator]
    base = midnight.replace(tzinfo=timezone.utc)
    low = base - timedelta(hours=15)
    while low <= base + timedelta(hours=13):
        if low.astimezone(zone).date() == day:
            probe = low - timedelta(minutes=15)
            while probe.astimezone(zone).date() != day:
                probe += timedelta(minutes=1)
            return probe
        low += timedelta(minutes=15)
    return None


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), year=YEARS, time_format=st.sampled_from(["iso", "YYYY-MM-DD"]))
# Copies of the time zone database disagree here: Colombia's 1992 summer time began on 2 May
# in polars' copy (2025b) and on 3 May in tzdata 2026f, which Python reads where the system has
# no zoneinfo of its own.
@example(zone="America/Bogota", year=1992, time_format="iso")
def test_every_date_of_a_year_is_the_first_instant_of_its_local_day(
    zone: str, year: int, time_format: str
) -> None:
    days = days_of(year)
    texts = pl.DataFrame({"t": [d.isoformat() for d in days]})
    got = texts.select(utc_time(pl.col("t"), zone, time_format)).to_series().to_list()
    clock = zoneinfo.ZoneInfo(zone)
    assert got == [first_instant_of(d, clock) for d in days]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), year=YEARS)
@example(zone="America/Bogota", year=1992)  # copies of the database disagree (see above)
def test_a_day_charge_of_a_date_ends_where_the_next_local_day_starts(zone: str, year: int) -> None:
    days = days_of(year)
    clock = zoneinfo.ZoneInfo(zone)
    starts = [first_instant_of(d, clock) for d in days]
    following = [first_instant_of(d + timedelta(days=1), clock) for d in days]
    hours = pl.DataFrame({"h": [s for s in starts]}, schema={"h": pl.Datetime("us", "UTC")})
    ends = hours.select(charge_end(pl.col("h"), zone, "day")).to_series().to_list()
    for start, end, expected in zip(starts, ends, following):
        if start is not None and start.minute == 0 and expected is not None:
            assert end == expected, (zone, start)


def test_the_midnight_gap_days_of_the_issue() -> None:
    cases = {
        "America/Santiago": ("2024-09-08", datetime(2024, 9, 8, 4, tzinfo=timezone.utc)),
        "Africa/Cairo": ("2024-04-26", datetime(2024, 4, 25, 22, tzinfo=timezone.utc)),
        "America/Havana": ("2024-03-10", datetime(2024, 3, 10, 5, tzinfo=timezone.utc)),
        "America/Asuncion": ("2024-10-06", datetime(2024, 10, 6, 4, tzinfo=timezone.utc)),
    }
    for zone, (text, expected) in cases.items():
        for time_format in (None, "iso", "YYYY-MM-DD", "%Y-%m-%d", ["M/D/YYYY", "YYYY-MM-DD"]):
            got = pl.select(utc_time(pl.lit(text), zone, time_format)).item()
            assert got == expected, (zone, time_format)
        written = pl.select(
            utc_time(pl.lit(text[5:7] + "/" + text[8:] + "/" + text[:4]), zone, "M/D/YYYY")
        ).item()
        assert written == expected
    # A time of day on the skipped hour names no instant: still refused.
    assert pl.select(utc_time(pl.lit("2024-09-08 00:30"), "America/Santiago")).item() is None
