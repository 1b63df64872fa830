"""A month's CBF frame takes source columns that need no trimming as they are (sharing their
memory), and gives exactly what trimming every value gives."""

import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf import build
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.resolve import clean_text, resolve_columns
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUG = Month(2024, 8)
# Every character Unicode counts as White_Space (what polars' strip_chars trims), a few that
# look like it but are not, and ordinary text.
WHITE = (
    "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u200a\u2028\u2029\u202f\u205f\u3000"
)
NOT_WHITE = "\u200b\u180e\ufeff\x00"
TEXT = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list(WHITE + NOT_WHITE) + list("ab-/:é")), max_size=6),
)
COLUMNS = {
    "time/usage_start": "date",
    "cost/cost": "amount",
    "resource/service": "service",
    "resource/account": "account",
    "resource/id": {"template": "{account}/{service}"},
    "resource/tag:team": "team",
}


def _convert(frame: pl.DataFrame) -> pl.DataFrame:
    return run(frame, AUG, columns=COLUMNS).cbf


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=12), st.booleans())
def test_columns_taken_as_they_are_equal_trimmed_ones(
    rows: list[tuple[str | None, str | None, str | None]], trimmed: bool
) -> None:
    if trimmed:  # half the examples hold only trimmed values, so the short cut is taken
        rows = [tuple(None if v is None else (v.strip(WHITE) or None) for v in r) for r in rows]
    n = len(rows)
    frame = source_frame(
        date=["2024-08-03 10:00:00"] * n,
        amount=["1.5"] * n,
        service=[r[0] for r in rows],
        account=[r[1] for r in rows],
        team=[r[2] for r in rows],
    )
    got = _convert(frame)
    original = build.clean_text
    try:
        build.clean_text = lambda frame, columns: set()  # trim every column
        expected = _convert(frame)
    finally:
        build.clean_text = original
    assert got.equals(expected)


def test_clean_text_names_only_columns_trimming_leaves_unchanged() -> None:
    frame = source_frame(
        date=["2024-08-03 10:00:00"] * 3,
        amount=["1", "2", "3"],
        service=["Compute", "Storage", None],
        account=["a", "b\u3000", "c"],
        team=["x", "", "y"],
    )
    columns = resolve_columns(frame, "vendor", MappingOptions(columns=COLUMNS))
    assert clean_text(frame, columns) == {"date", "amount", "service"}
