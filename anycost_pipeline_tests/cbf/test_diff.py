"""The change between two submissions of a month, on a small known example, and counted a few
hours at a time as at once."""

from decimal import Decimal

import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf import diff as diff_module
from anycost_pipeline.cbf.diff import month_diff

H1, H2 = "2024-08-01T00:00:00Z", "2024-08-01T01:00:00Z"


def _frame(rows: list[tuple[str, str, str, str]], *, lineage: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema=["time/usage_start", "resource/service", "lineitem/type", "cost/cost"],
        orient="row",
    )
    if lineage:  # lineage columns are not part of a row's identity
        frame = frame.with_columns(
            pl.lit("some.csv").alias("_source_file"), pl.int_range(pl.len()).alias("_source_row")
        )
    return frame


def test_added_removed_changed_and_cost_delta() -> None:
    before = _frame(
        [
            (H1, "Compute", "Usage", "10.00"),  # unchanged
            (H1, "Storage", "Usage", "2.50"),  # changed to 3.00
            (H2, "Compute", "Tax", "1.00"),  # removed
            (H2, "Storage", "Usage", "4.00"),  # duplicate pair: one copy stays, one removed
            (H2, "Storage", "Usage", "4.00"),
        ]
    )
    after = _frame(
        [
            (H1, "Compute", "Usage", "10.00"),
            (H1, "Storage", "Usage", "3.00"),
            (H2, "Storage", "Usage", "4.00"),
            (H2, "Network", "Usage", "0.75"),  # added
            (H2, "Compute", "Credit", "-1.25"),  # added
        ],
        lineage=True,
    )
    diff = month_diff(before, after)
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (2, 2, 1, 2)
    assert (diff.rows_before, diff.rows_after) == (5, 5)
    assert diff.cost_before == Decimal("21.50") and diff.cost_after == Decimal("16.50")
    assert diff.cost_delta == Decimal("-5.00")
    assert diff.cost_delta_by_service == {
        "Compute": Decimal("-2.25"),  # tax 1.00 gone, credit -1.25 added
        "Network": Decimal("0.75"),
        "Storage": Decimal("-3.50"),  # +0.50 changed, -4.00 removed copy
    }


def test_duplicates_are_a_multiset_and_changed_pairs_up_leftovers() -> None:
    before = _frame([(H1, "Compute", "Usage", "1")] * 3)
    after = _frame([(H1, "Compute", "Usage", "1"), (H1, "Compute", "Usage", "2")])
    diff = month_diff(before, after)
    # one copy of "1" is unchanged; of the two left before and the one "2" after, one pairs up
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (0, 1, 1, 1)
    assert diff.cost_delta == Decimal("0")


def test_first_submission_is_all_added_and_same_month_again_is_no_change() -> None:
    month = _frame([(H1, "Compute", "Usage", "10.00"), (H2, "Compute", "Usage", "5.5")])
    first = month_diff(None, month)
    assert (first.added, first.removed, first.changed, first.cost_delta) == (
        2,
        0,
        0,
        Decimal("15.50"),
    )
    again = month_diff(month, month.reverse())
    assert (again.added, again.removed, again.changed, again.cost_delta) == (0, 0, 0, Decimal(0))
    assert again.cost_delta_by_service == {}


def test_a_new_column_changes_identity_and_blank_equals_missing() -> None:
    before = _frame([(H1, "Compute", "Usage", "1")])
    tagged = before.with_columns(pl.lit("team-a").alias("resource/tag:team"))
    assert (month_diff(before, tagged).added, month_diff(before, tagged).removed) == (1, 1)
    blank = before.with_columns(pl.lit("").alias("resource/region"))
    assert month_diff(before, blank).unchanged == 1


def test_a_first_submission_counts_as_a_comparison_with_an_empty_month() -> None:
    """With no previous submission the rows are not counted by identity (a short cut that
    saves a large month's memory); the answer is what comparing with an empty month gives."""
    month = _frame(
        [
            (H1, "Compute", "Usage", "10.00"),
            (H2, "Compute", "Usage", "5.5"),
            (H2, "Storage", "Tax", "-0.25"),
            (H2, "Storage", "Tax", "0.25"),
            (H1, "", "Usage", "1"),
        ]
    )
    for frame in (month, month.drop("resource/service"), month.head(0)):
        empty = pl.DataFrame(schema={"cost/cost": pl.String})
        assert month_diff(None, frame) == month_diff(empty, frame)


HOURS = [f"2024-08-{d:02d}T{h:02d}:00:00Z" for d in (1, 2) for h in (0, 1, 23)]
ROW = st.tuples(
    st.sampled_from(HOURS),
    st.sampled_from(["Compute", "Storage", ""]),
    st.sampled_from(["Usage", "Tax"]),
    st.sampled_from(["1", "1.0", "2", "-0.5", ".5", " 3 "]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ROW, max_size=30),
    st.lists(ROW, max_size=30),
    st.booleans(),
    st.integers(min_value=1, max_value=4),
)
def test_a_month_counted_a_few_hours_at_a_time_counts_as_the_whole_month(
    before: list, after: list, in_time_order: bool, hours_at_a_time: int
) -> None:
    if in_time_order:  # as months usually are: then the hours are counted a few at a time
        before, after = sorted(before), sorted(after)
    old, new = _frame(before), _frame(after)
    original = diff_module.HOURS_AT_A_TIME
    try:
        diff_module.HOURS_AT_A_TIME = len(HOURS)  # the whole month at once
        expected = month_diff(old, new)
        diff_module.HOURS_AT_A_TIME = hours_at_a_time
        got = month_diff(old, new)
    finally:
        diff_module.HOURS_AT_A_TIME = original
    assert got == expected
