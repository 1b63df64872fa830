"""`iso` reads every rendering of an instant that ISO 8601 allows, to the same instant."""

from datetime import datetime, timedelta, timezone

import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.times import utc_hour, utc_hours, utc_time

INSTANTS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(tzinfo=timezone.utc)
)
OFFSETS = st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda q: timedelta(minutes=15 * q))


@st.composite
def renderings(draw: st.DrawFn) -> tuple[str, datetime]:
    """An ISO 8601 text and the instant it names (what its precision keeps of the drawn one)."""
    instant = draw(INSTANTS)
    offset = draw(OFFSETS)
    precision = draw(st.sampled_from(["hour", "minute", "second", "fraction"]))
    basic = draw(st.booleans())
    local = instant.astimezone(timezone(offset))
    digits = draw(st.integers(min_value=1, max_value=9))
    kept = {
        "hour": local.replace(minute=0, second=0, microsecond=0),
        "minute": local.replace(second=0, microsecond=0),
        "second": local.replace(microsecond=0),
        "fraction": local.replace(
            microsecond=local.microsecond // 10 ** max(0, 6 - digits) * 10 ** max(0, 6 - digits)
        ),
    }[precision]
    date = kept.strftime("%Y%m%d" if basic else "%Y-%m-%d")
    colon = "" if basic else ":"
    clock = kept.strftime("%H")
    if precision != "hour":
        clock += colon + kept.strftime("%M")
    if precision in ("second", "fraction"):
        clock += colon + kept.strftime("%S")
    if precision == "fraction":
        fraction = f"{kept.microsecond:06d}" + "000"
        clock += draw(st.sampled_from([".", ","])) + fraction[:digits]
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    styles = [f"{sign}{hh:02d}{colon}{mm:02d}", f"{sign}{hh:02d}{mm:02d}"]
    if mm == 0:
        styles.append(f"{sign}{hh:02d}")
    if minutes == 0:
        styles += ["Z", "z"]
    zone = draw(st.sampled_from(styles))
    separator = draw(st.sampled_from(["T", "t", " "]))
    return f"{date}{separator}{clock}{zone}", kept.astimezone(timezone.utc)


@settings(max_examples=300, deadline=None)
@given(case=renderings(), zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/Santiago"]))
def test_every_iso_rendering_names_its_instant(case: tuple[str, datetime], zone: str) -> None:
    text, instant = case
    got = pl.select(utc_time(pl.lit(text), zone)).item()
    assert got == instant, text


@settings(max_examples=100, deadline=None)
@given(cases=st.lists(renderings(), min_size=1, max_size=150))
def test_a_column_of_mixed_renderings_reads_as_each_alone(
    cases: list[tuple[str, datetime]],
) -> None:
    """The fast path of a whole column (one form found from a sample) gives the same hours."""
    frame = pl.DataFrame({"t": [text for text, _ in cases]})
    hours = utc_hours(frame, pl.col("t"), "UTC").to_list()
    assert hours == [i.replace(minute=0, second=0, microsecond=0) for _, i in cases]


NAIVE = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31)).map(
    lambda d: d.strftime(d.microsecond % 2 and "%Y-%m-%d %H:%M:%S" or "%Y-%m-%dT%H:%M")
)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(
        renderings().map(lambda case: case[0]) | NAIVE | st.sampled_from(["", "soon"]),
        min_size=1,
        max_size=300,
    ),  # fmt: skip
    zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/Santiago", "Europe/London"]),
    formats=st.sampled_from([None, "iso", ["iso"], ["iso", "M/D/YYYY"], "YYYY-MM-DD"]),
    ambiguous=st.sampled_from(["reject", "earliest", "latest"]),
)
def test_a_column_reads_as_the_expression_reads_it_whatever_was_read_before(
    texts: list[str], zone: str, formats: str | list[str] | None, ambiguous: str
) -> None:
    """`utc_hours` (a sample's form first, the readers built once per zone and kept between
    calls) gives exactly what `utc_hour` gives, row by row, for any zone, format and policy
    read before it in the same process."""
    frame = pl.DataFrame({"t": texts})
    fast = utc_hours(frame, pl.col("t"), zone, formats, ambiguous).to_list()
    plain = frame.select(utc_hour(pl.col("t"), zone, formats, ambiguous)).to_series().to_list()
    assert fast == plain
