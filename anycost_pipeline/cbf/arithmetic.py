"""A decimal CBF column worked out from source columns (`ColumnSum`): sums, differences and
absolute values, exact to the last digit of every term; and a column's `scale` (amounts in
cents → dollars), exact to the last digit."""

from collections.abc import Callable
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.spec import ColumnSum


def column_sum(spec: ColumnSum, read: Callable[[str], pl.Expr]) -> pl.Expr:
    """The value of `spec` on each row, as plain decimal text; `read` gives a column's values
    as plain decimal text (or null). Terms are known to be readable: their problems are found
    first (`problems.value_problems`), so a row still holding an empty term with `empty: error`
    is one of the rows kept aside and gets no value."""
    terms = spec.terms
    fields = pl.struct([read(column).alias(f"t{i}") for i, (column, _, _) in enumerate(terms)])
    signs = [(absolute, minus) for _, absolute, minus in terms]
    zero = spec.empty == "zero"
    return fields.map_batches(
        lambda values: _sums(values, signs, zero), return_dtype=pl.String, is_elementwise=True
    )


def _sums(values: pl.Series, signs: list[tuple[bool, bool]], zero: bool) -> pl.Series:
    out: list[str | None] = []
    for row in values.struct.unnest().iter_rows():
        if all(v is None for v in row) or (not zero and any(v is None for v in row)):
            out.append(None)
            continue
        # Python's operators round to 28 digits; the EXACT context never rounds. Starting at 0
        # keeps each term's own places, as Decimal arithmetic does (12 − 4 = 8, 0.1 − 0.30 = −0.20).
        total = Decimal(0)
        for text, (absolute, minus) in zip(row, signs):
            if text is None:
                continue
            term = EXACT.abs(Decimal(text)) if absolute else Decimal(text)
            total = EXACT.subtract(total, term) if minus else EXACT.add(total, term)
        out.append(format(total.copy_abs() if total.is_zero() else total, "f"))
    return pl.Series(values.name, out, dtype=pl.String)


def scaled(text: pl.Expr, factor: str) -> pl.Expr:
    """Plain decimal text × `factor` (a column's `scale`), exactly, as plain decimal text: with
    `"0.01"`, `"123.78912"` (cents) → `"1.2378912"`. Nulls stay null."""
    multiplier = Decimal(factor)

    def times(values: pl.Series) -> pl.Series:
        out: list[str | None] = []
        for value in values.to_list():
            if value is None:
                out.append(None)
                continue
            product = EXACT.multiply(Decimal(value), multiplier)
            out.append(format(product.copy_abs() if product.is_zero() else product, "f"))
        return pl.Series(values.name, out, dtype=pl.String)

    return text.map_batches(times, return_dtype=pl.String, is_elementwise=True)
