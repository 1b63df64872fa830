"""A date means the first instant of that local day, in every zone on every day: checked against
a brute-force search over the zone's clock for whole years."""

import zoneinfo
from datetime import date, datetime, timedelta, timezone

import polars as pl
from hypothesis import example, given, settings, strategies as st

from anycost_pipeline.cbf.spread import charge_end
from anycost_pipeline.cbf.times import utc_time

# Zones polars knows (it carries its own copy of the time zone database).
ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))
# Years of the past (rules change for future years).
YEARS = st.integers(min_value=1990, max_value=2024)


def first_instants(days: list[date], zone: str) -> list[datetime | None]:
    """For each day (in order), the first UTC minute whose local date is that day, or None if
    the zone skipped the day: every minute from two days before to two days after, read on the
    zone's clock as polars keeps it, the copy of the time zone database the pipeline reads
    times with. (Python's zoneinfo is no reference: it reads the system's copy, or the tzdata
    package's where there is none, and copies of other releases disagree on some years.)"""
    low = datetime(days[0].year, days[0].month, days[0].day, tzinfo=timezone.utc)
    high = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=timezone.utc)
    minutes = pl.datetime_range(
        low - timedelta(days=2), high + timedelta(days=3), "1m", time_zone="UTC", eager=True
    )
    local_days = minutes.dt.convert_time_zone(zone).dt.date()
    firsts = pl.DataFrame({"utc": minutes, "day": local_days}).group_by("day").agg(pl.min("utc"))
    found = dict(zip(firsts.get_column("day").to_list(), firsts.get_column("utc").to_list()))
    return [found.get(day) for day in days]


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), year=YEARS, time_format=st.sampled_from(["iso", "YYYY-MM-DD"]))
# Copies of the time zone database disagree here: Colombia's 1992 summer time began on 2 May
# in polars' copy and on 3 May in tzdata 2026f, which Python's zoneinfo read where the system
# had no copy of its own: checked against zoneinfo, the test failed there.
@example(zone="America/Bogota", year=1992, time_format="iso")
def test_every_date_of_a_year_is_the_first_instant_of_its_local_day(
    zone: str, year: int, time_format: str
) -> None:
    days = days_of(year)
    texts = pl.DataFrame({"t": [d.isoformat() for d in days]})
    got = texts.select(utc_time(pl.col("t"), zone, time_format)).to_series().to_list()
    assert got == first_instants(days, zone)


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), year=YEARS)
@example(zone="America/Bogota", year=1992)  # copies of the database disagree (see above)
def test_a_day_charge_of_a_date_ends_where_the_next_local_day_starts(zone: str, year: int) -> None:
    days = days_of(year)
    starts_and_next = first_instants([*days, days[-1] + timedelta(days=1)], zone)
    starts, following = starts_and_next[:-1], starts_and_next[1:]
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
