"""Exact money arithmetic: usage × rate card, and conversion to the target currency.

Products keep full precision: the result has as many decimals as both factors together, so
nothing is rounded and nothing is lost.
"""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.options import RateCard

RATE = "_rate"


def _product(value: str | None, factor: str | None) -> str | None:
    if value is None or factor is None:
        return None
    return format(decimals.EXACT.multiply(Decimal(value), Decimal(factor)), "f")


def multiply(values: pl.Series, factors: pl.Series | str) -> pl.Series:
    """Plain decimal text × plain decimal text, exactly, as plain decimal text (nulls stay null)."""
    if isinstance(factors, str):
        factors = pl.Series([factors] * len(values), dtype=pl.String)
    out = [_product(v, f) for v, f in zip(values.to_list(), factors.to_list())]
    return pl.Series(values.name, out, dtype=pl.String)


def with_rates(frame: pl.DataFrame, card: RateCard, month: str) -> pl.DataFrame:
    """`frame` with the rate in force for each row in `_rate` (null where no line matches)."""
    lines = card.lines_for(month)
    rates = pl.DataFrame(
        {
            **{f"_k{i}": [line.keys()[c] for line in lines] for i, c in enumerate(card.match)},
            RATE: [line.rate for line in lines],
        },
        schema={**{f"_k{i}": pl.String for i in range(len(card.match))}, RATE: pl.String},
    )
    keyed = frame.with_columns(
        pl.col(c).cast(pl.String).str.strip_chars().alias(f"_k{i}")
        for i, c in enumerate(card.match)
    )
    keys = [f"_k{i}" for i in range(len(card.match))]
    return keyed.join(rates, on=keys, how="left", maintain_order="left").drop(keys)


def rated_cost(frame: pl.DataFrame, card: RateCard, *, allow_exponent: bool = False) -> pl.Series:
    """quantity × rate per row of a frame from `with_rates` (null where either is missing or bad)."""
    text = (
        decimals.expand_exponents(pl.col(card.quantity))
        if allow_exponent
        else decimals.normalised(pl.col(card.quantity))
    )
    quantity = frame.select(
        pl.when(~decimals.is_invalid(text)).then(decimals.plain(text))
    ).to_series()
    return multiply(quantity, frame.get_column(RATE))
