"""The cost_conserved check sums with its own plain Decimal additions, so a fault in the fast
sums of `decimals` (used by the mapping and the validation) cannot hide itself in the check."""

from decimal import Decimal

import polars as pl
import pytest

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.conservation import checked_total
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.verdicts import convert_and_check
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import source_frame, total

AUG = Month(2024, 8)


def test_checked_total_is_exact_past_28_digits_and_drops_trailing_zeros() -> None:
    values = pl.Series(
        ["12.50", "-2.5", None, "0.000000000000000000000000000001", "99999999999999999999999999999"]
    )
    assert (
        str(checked_total(values))
        == "100000000000000000000000000009.000000000000000000000000000001"
    )
    assert str(checked_total(pl.Series(["1.10", "-1.1"]))) == "0"
    assert str(checked_total(pl.Series(["50", "50"]))) == "100"
    assert checked_total(pl.Series([], dtype=pl.String)) == Decimal(0)


def test_checked_total_counts_every_value_of_a_series_longer_than_it_reads_at_once() -> None:
    # The values are read a slice at a time: each slice's edge, nulls and all, must count once.
    values = [None if i % 7 == 0 else f"{i}.{i % 1000:03d}" for i in range(200_003)]
    expected = sum((Decimal(v) for v in values if v is not None), Decimal(0))
    assert checked_total(pl.Series(values, dtype=pl.String)) == expected.normalize()


def test_cost_conserved_does_not_read_the_fast_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    amounts = ["1.25", "2.5", "0.000001", "3"]
    frame = source_frame(date=["2024-08-16 10:00:00"] * 4, amount=amounts)
    options = MappingOptions(columns={"time/usage_start": "date", "cost/cost": "amount"})
    framed = frame.with_columns(pl.lit(AUG.start).alias("_hour"))
    monkeypatch.setattr(decimals, "plain_sum", lambda values: Decimal("999"))
    monkeypatch.setattr(decimals, "exact_sum", lambda values: Decimal("999"))
    money = convert_and_check(framed, "vendor", options, AUG, 1_000_000).conservation
    expected = total(pl.Series(amounts))
    assert (money.source_total, money.cbf_total) == (expected, expected)
    assert money.passed
