"""A month never goes back to an older read of its sources (two runs of it overlapping)."""

from decimal import Decimal

import polars as pl
from hypothesis import given, strategies as st

from anycost_pipeline.cloudzero.journal import CONFIRMED, Entry
from anycost_pipeline.cloudzero.month_state import SEND, SUPERSEDED, Held, Now, judge_month
from anycost_pipeline.sources.reads import read_of, with_read, without_read


def now(reads: dict[str, int]) -> Now:
    return Now(1, Decimal("80.00"), "hash-now", reads=reads)


def sent(reads: dict[str, int] | None) -> Entry:
    data = {"state": CONFIRMED, "content_hash": "hash-then", "drop_ids": ["d1"], "reported_rows": 1}
    return Entry({**data, **({"reads": reads} if reads is not None else {})})


HELD = Held(1, "d1")


def test_a_read_older_than_the_one_sent_is_superseded_unless_forced() -> None:
    state = judge_month("2024-08", "replace_drop", now({"vendor": 1}), sent({"vendor": 2}), HELD)
    assert state.verdict == SUPERSEDED
    assert "source vendor: this run's read is number 1, the last one sent number 2" in state.reason
    assert "Nothing was sent" in state.reason and "--force" in state.reason
    # A state folder made anew starts the numbers again: --force sends anyway.
    forced = judge_month(
        "2024-08", "replace_drop", now({"vendor": 1}), sent({"vendor": 2}), HELD, True
    )
    assert forced.verdict == SEND


def test_a_newer_or_equal_read_or_an_unnumbered_one_is_judged_as_before() -> None:
    for reads, last in [
        ({"vendor": 3}, {"vendor": 2}),
        ({"vendor": 2}, {"vendor": 2}),
        ({}, {"vendor": 2}),
        ({"vendor": 1}, None),
        ({"other": 1}, {"vendor": 5}),
    ]:
        state = judge_month("2024-08", "replace_drop", now(reads), sent(last), HELD)
        assert state.verdict == SEND, (reads, last)


@given(
    st.dictionaries(st.sampled_from("abc"), st.integers(1, 9)),
    st.dictionaries(st.sampled_from("abc"), st.integers(1, 9)),
)
def test_superseded_exactly_when_some_source_read_is_older(mine: dict, last: dict) -> None:
    state = judge_month("2024-08", "sum", now(mine), sent(last), HELD)
    older = any(s in last and n < last[s] for s, n in mine.items())
    assert (state.verdict == SUPERSEDED) == older


@given(st.integers(0, 2**40), st.integers(0, 5))
def test_a_frame_carries_its_read_with_or_without_rows(number: int, rows: int) -> None:
    import io

    frame = with_read(pl.DataFrame({"cost": ["1.00"] * rows}, schema={"cost": pl.String}), number)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    stored = pl.read_parquet(buffer)
    assert read_of(stored) == number
    assert read_of(stored.filter(pl.lit(False))) == number
    assert without_read(stored).columns == ["cost"]
    assert read_of(pl.DataFrame({"cost": ["1.00"]})) is None
