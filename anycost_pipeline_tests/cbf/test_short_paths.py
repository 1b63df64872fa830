"""The quick paths for the usual month (plain short amounts, one file, no blank rows, one month)
give exactly what the general paths give, and step aside for everything else."""

import decimal
from datetime import datetime, timezone
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.hours import HOUR, rows_of_month, usage_hours
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.validation import cost_total, source_rows_in
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import source_frame, total

AUG = Month(2024, 8)
# Every plain shape, up to the longest text the quick sum takes (16 characters).
PLAIN = [
    "0",
    "-0",
    ".5",
    "-.5",
    "12.",
    "-12.",
    "007.50",
    ".000000000000001",
    "-.00000000000001",
    "0.00000000000001",
    "9999999999999999",
    "-999999999999999",
    "123456.789012345",
    None,
]


def test_plain_sum_is_exact_for_every_plain_shape() -> None:
    values = pl.Series(PLAIN * 3)
    expected = total(pl.Series([decimals_plain(v) for v in PLAIN * 3]))
    assert decimals.plain_sum(values) == expected
    assert decimals.exact_sum(values) == expected
    assert decimals.plain_sum(pl.Series([None, None], dtype=pl.String)) == Decimal(0)


@pytest.mark.parametrize(
    "odd",
    ["+1", " 1", "1 ", "1e3", "-9e22", "", "NULL", "NaN", "1,5", ".", "-", "12345678901234567"],
)
def test_plain_sum_steps_aside_for_anything_else(odd: str) -> None:
    assert decimals.plain_sum(pl.Series(["1.5", odd] * 200_000)) is None


def test_exact_sum_past_the_quick_sum_is_still_exact() -> None:
    values = pl.Series(
        ["0.0000000000000001", "12345678901234567", "-1"]
    )  # 17 characters: the general path
    assert decimals.exact_sum(values) == Decimal("12345678901234566.0000000000000001")


def test_cost_total_of_plain_and_of_loose_text_is_the_same_money() -> None:
    plain = pl.DataFrame({"cost/cost": ["0.5", "12", "-0.25"]})
    loose = pl.DataFrame({"cost/cost": [".5", " 12 ", "-0.25"]})
    assert cost_total(plain) == cost_total(loose) == Decimal("12.25")


@pytest.mark.parametrize(
    ("amounts", "options", "expected"),
    [
        (["1.5", None, "2.25"], {}, (Decimal("3.75"), 1)),
        (["1.5", "N/A", "2.25"], {"null_values": ["N/A"]}, (Decimal("3.75"), 1)),
        (["1.5", "+2.25", " 3 "], {}, (Decimal("6.75"), 0)),
        (["1.5", "", "x", "NULL"], {}, (Decimal("1.5"), 3)),
        (["1.5", "2e3"], {}, (Decimal("1.5"), 1)),
        (["1.5", "2e3"], {"exponent": "allow"}, (Decimal("2001.5"), 0)),
        (["1.5", "12345678901234567.5"], {}, (Decimal("12345678901234569"), 0)),
    ],
)
def test_source_cost_counts_the_same_on_every_path(
    amounts: list[str | None], options: dict, expected: tuple[Decimal, int]
) -> None:
    frame = source_frame(date=["2024-08-16"] * len(amounts), amount=amounts)
    opts = MappingOptions.model_validate(
        {"columns": {"time/usage_start": "date", "cost/cost": "amount"}, **options}
    )
    assert source_cost(frame, opts, AUG) == expected


def test_source_cost_with_two_candidate_columns_takes_the_first_present_value() -> None:
    frame = source_frame(date=["2024-08-16"] * 3, a=["1", None, None], b=["5", "2", None])
    opts = MappingOptions.model_validate(
        {"columns": {"time/usage_start": "date", "cost/cost": {"column": ["a", "b"]}}}
    )
    assert source_cost(frame, opts, AUG) == (Decimal(3), 1)


def test_source_rows_in_one_file_counts_distinct_rows() -> None:
    frame = pl.DataFrame({"_source_file": ["a.csv"] * 4, "_source_row": [2, 2, 3, 5]})
    assert source_rows_in(frame) == 3
    assert source_rows_in(frame.head(0)) == 0
    # A missing file name is a file of its own: rows 2 of both are two source rows.
    mixed = pl.DataFrame({"_source_file": ["a.csv", None, None], "_source_row": [2, 2, 2]})
    assert source_rows_in(mixed) == 2
    assert source_rows_in(mixed.reverse()) == 2


def _hours(frame: pl.DataFrame) -> tuple[list[int], list[int]]:
    framed, problems = usage_hours(frame, "vendor", "date", "UTC", None)
    return framed.get_column("_source_row").to_list(), problems.get_column("_source_row").to_list()


def test_blank_rows_go_and_rows_with_any_value_stay() -> None:
    # Every column has empty cells, so no column alone proves that no row is blank.
    blank = source_frame(
        date=["2024-08-01", "", None, "", "2024-08-02"], amount=["", "", None, "1", "2"]
    )
    assert _hours(blank) == (
        [2, 5, 6],
        [5],
    )  # row 5 holds an amount without a date: reported, not dropped
    empty_not_null = source_frame(date=["2024-08-01", "", "2024-08-02"], amount=["1", "", "2"])
    assert _hours(empty_not_null) == ([2, 4], [])
    full = source_frame(date=["2024-08-01", "2024-08-02"], amount=["", None])
    assert _hours(full) == ([2, 3], [])


def test_rows_of_month_keeps_the_month_only() -> None:
    hours = [
        datetime(2024, 8, 1, tzinfo=timezone.utc),
        datetime(2024, 8, 31, 23, tzinfo=timezone.utc),
    ]
    inside = pl.DataFrame(
        {HOUR: hours, "v": [1, 2]}, schema_overrides={HOUR: pl.Datetime("us", "UTC")}
    )
    assert rows_of_month(inside, AUG).get_column("v").to_list() == [1, 2]
    edges = inside.vstack(
        pl.DataFrame(
            {HOUR: [datetime(2024, 9, 1, tzinfo=timezone.utc), None], "v": [3, 4]},
            schema_overrides={HOUR: pl.Datetime("us", "UTC")},
        )
    )
    assert rows_of_month(edges, AUG).get_column("v").to_list() == [1, 2]
    unread = inside.with_columns(
        pl.when(pl.col("v") == 2).then(None).otherwise(pl.col(HOUR)).alias(HOUR)
    )
    assert rows_of_month(unread, AUG).get_column("v").to_list() == [1]
    assert rows_of_month(inside.head(0), AUG).height == 0


def decimals_plain(value: str | None) -> str | None:
    return (
        pl.DataFrame({"v": [value]}, schema={"v": pl.String})
        .select(decimals.plain(pl.col("v")))
        .item()
    )


_AMOUNTS = st.one_of(
    st.none(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=6, max_value=10**9, min_value=-(10**9)
    ).map(lambda d: format(d, "f")),
    st.sampled_from(
        [p for p in PLAIN if p is not None] + ["0.0000000000000001", "12345678901234567"]
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "", None]), _AMOUNTS), max_size=60))
def test_sums_by_key_are_each_groups_exact_sum(pairs: list[tuple[str | None, str | None]]) -> None:
    """Per group, the quick one-pass sum (every value short plain text) or the gathered one
    (anything longer) is the exact sum of the group's values, nulls counting as zero."""
    keys = pl.Series([k for k, _ in pairs], dtype=pl.String)
    values = pl.Series([v for _, v in pairs], dtype=pl.String)
    expected: dict[str | None, list] = {}
    exact = decimal.Context(prec=100)  # the default 28 digits would round these sums
    for key, value in pairs:
        rows, money = expected.get(key, (0, Decimal(0)))
        expected[key] = [rows + 1, exact.add(money, Decimal(value or 0))]
    got = {key: (rows, money) for key, rows, money in decimals.exact_sums_by(keys, values)}
    assert got == {key: (rows, money) for key, (rows, money) in expected.items()}
