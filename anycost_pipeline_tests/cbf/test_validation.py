"""row_problems refuses what CloudZero's row schema refuses, judged on rows as they are sent
(empty values left out)."""

import polars as pl
import pytest

from anycost_pipeline.cbf.columns import DECIMAL_COLUMNS
from anycost_pipeline.cbf.validation import row_problems
from anycost_pipeline.months import Month

AUG = Month(2024, 8)
HOUR = "2024-08-01T10:00:00Z"


def _cbf(**columns: list) -> pl.DataFrame:
    """A CBF frame of hand-written rows, with the lineage row_problems reports them by."""
    n = len(next(iter(columns.values())))
    base = {"time/usage_start": [HOUR] * n, "cost/cost": ["1"] * n}
    return pl.DataFrame(
        {**base, **columns, "_source_file": ["x.csv"] * n, "_source_row": list(range(2, n + 2))},
        schema_overrides={name: pl.String for name in columns},
    )


def _found(cbf: pl.DataFrame) -> list[tuple[int, str, str]]:
    return row_problems(cbf, AUG).select("_source_row", "column", "reason").rows()


BAD_DECIMALS = [
    ".5",
    "5.",
    "-.5",
    "1e-05",
    "1E5",
    "+5",
    " 5",
    "5 ",
    "5\n",
    "1,5",
    "--1",
    "-",
    ".",
    "NaN",
    "inf",
    "0x10",
    "١٢",  # digits, but not ASCII ones
    "1.2.3",
]
GOOD_DECIMALS = ["0", "-0.5", "12.000000", "-3.5", "007", "123456789012345678901234567890.1"]


@pytest.mark.parametrize("column", DECIMAL_COLUMNS)
def test_every_bad_decimal_form_is_flagged(column: str) -> None:
    values = BAD_DECIMALS + GOOD_DECIMALS
    found = _found(_cbf(**{column: values}))
    assert found == [(2 + i, column, "not a plain decimal") for i in range(len(BAD_DECIMALS))]


@pytest.mark.parametrize("column", [c for c in DECIMAL_COLUMNS if c != "cost/cost"])
def test_an_empty_optional_decimal_is_absent_not_bad(column: str) -> None:
    assert _found(_cbf(**{column: ["", None, "2.5"]})) == []


def test_an_empty_cost_is_only_a_missing_required_value() -> None:
    found = _found(_cbf(**{"cost/cost": [""]}))
    assert found == [(2, "cost/cost", "required value is empty")]


def test_usage_end_is_any_utc_time_when_present() -> None:
    good = [
        "2024-08-01T10:30:15Z",
        "2024-08-01T10:30:15.250Z",
        "2024-08-01T10:30:15+00:00",
        "2024-02-29T23:59:59Z",
        "",
        None,
    ]
    bad = [
        "2024-08-01 10:30:15",
        "2024-08-01T10:30:15",  # no zone: not said to be UTC
        "2024-08-01T10:30:15+02:00",
        "2024-08-01T10:30Z",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-08-01T24:00:00Z",
        "2024-08-01T10:60:00Z",
        "2024-08-01T10:30:60Z",
        "2024-08-01T10:30:15.Z",
        " 2024-08-01T10:30:15Z",
    ]
    found = _found(_cbf(**{"time/usage_end": good + bad}))
    assert found == [
        (2 + len(good) + i, "time/usage_end", "not an ISO-8601 UTC time") for i in range(len(bad))
    ]


def test_usage_start_must_name_a_real_hour() -> None:
    cbf = _cbf(**{"time/usage_start": ["2024-08-32T00:00:00Z"]})
    assert (2, "time/usage_start", "not an ISO-8601 UTC hour (YYYY-MM-DDTHH:00:00Z)") in _found(cbf)


def test_a_tagged_row_needs_a_resource_id_and_an_untagged_one_does_not() -> None:
    cbf = _cbf(
        **{
            "resource/id": ["vm-1", None, "", None, "", "vm-6"],
            "resource/tag:team": ["web", "web", None, "", None, None],
            "resource/tag:env": [None, None, "prod", None, "", ""],
        }
    )
    reason = "required on a row with tags (CloudZero needs a resource for tagged rows)"
    assert _found(cbf) == [(3, "resource/id", reason), (4, "resource/id", reason)]


def test_tags_without_a_resource_id_column_flag_only_the_tagged_rows() -> None:
    cbf = _cbf(**{"resource/tag:team": [None, "web", ""]})
    assert [(row, column) for row, column, _ in _found(cbf)] == [(3, "resource/id")]


def test_a_bad_tag_key_is_a_problem_only_where_a_row_holds_the_tag() -> None:
    cbf = _cbf(**{"resource/id": ["vm-1", "vm-2", "vm-3"], "resource/tag:bad key": [None, "", "x"]})
    assert _found(cbf) == [
        (4, "resource/tag:bad key", "tag key may hold only letters, digits and _ . : / = + - @")
    ]
    empty = _cbf(**{"resource/id": ["vm-1"], "resource/tag:bad key": [""]})
    assert _found(empty) == []


def test_an_empty_line_item_type_is_absent_and_an_unknown_one_is_bad() -> None:
    found = _found(_cbf(**{"lineitem/type": ["", None, "Usage", "Refund"]}))
    assert found == [(5, "lineitem/type", "not a CBF line item type")]


def test_an_unknown_column_is_a_problem_only_where_it_holds_a_value() -> None:
    assert _found(_cbf(**{"cost/price": [None, "", "3"]})) == [
        (4, "cost/price", "not a CBF column")
    ]


def test_a_sparse_month_is_accepted() -> None:
    """Purchases, taxes and credits without quantities, tags on some rows only."""
    cbf = _cbf(
        **{
            "cost/cost": ["1.50", "0.25", "120.000000", "-3.5"],
            "lineitem/type": ["Usage", "Tax", "Purchase", "Credit"],
            "resource/id": ["vm-1", None, "", None],
            "usage/amount": ["2.0", None, "", None],
            "usage/units": ["Hours", None, "", None],
            "cost/discounted_cost": ["1.50", "", None, "-3.5"],
            "time/usage_end": ["2024-08-01T11:00:00Z", "", None, ""],
            "resource/tag:team": ["web", None, "", None],
            "resource/tag:cost-center": ["", None, "", None],
        }
    )
    assert _found(cbf) == []
