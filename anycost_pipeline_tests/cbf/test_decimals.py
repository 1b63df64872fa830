"""Decimal text: the canonical plain forms, the bad-value test and exact sums of any scale."""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals


def test_plain_text_forms_of_decimals() -> None:
    texts = pl.DataFrame(
        {"v": [".5", "-.5", "+.5", "12.", " 7. ", "-0.10", "NULL", "", None, "1,5"]}
    )
    got = texts.select(decimals.plain(pl.col("v"))).to_series().to_list()
    assert got == ["0.5", "-0.5", "0.5", "12", "7", "-0.10", None, None, None, "1,5"]
    bad = texts.select(decimals.is_invalid(decimals.normalised(pl.col("v")))).to_series().to_list()
    assert bad == [False] * 9 + [True]


def test_exact_sum_of_mixed_scales_and_signs() -> None:
    values = pl.Series(
        ["-.5", "12", "0.000001", "-3.25", None, "99999999999999999999999.999999999999"]
    )
    expected = Decimal("100000000000000000000008.250000999999")
    assert decimals.exact_sum(decimals_plain(values)) == expected
    assert decimals.exact_sum(pl.Series(["1.10", "2.20"])) == Decimal("3.3")


def decimals_plain(values: pl.Series) -> pl.Series:
    return values.to_frame("v").select(decimals.plain(pl.col("v"))).to_series()
