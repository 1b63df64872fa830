"""Exact money: source text to plain-notation decimal text, and exact totals. Never floats."""

import decimal
import re
from decimal import Decimal

import polars as pl

MISSING = ("", "NULL", "null", "None")
# Python's default decimal context rounds every result to 28 significant digits; money here
# has as many digits as the source gives, so all arithmetic uses this context instead.
EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_PLAIN = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


def normalised(text: pl.Expr) -> pl.Expr:
    """Trimmed decimal text without a leading `+`; empty and NULL markers become null."""
    # Each step uses its input once: polars would evaluate a repeated input (when/otherwise) twice,
    # and these run on every cost of the month. Prefix and suffix steps are cheaper than regexes.
    text = text.cast(pl.String).str.strip_chars().replace(list(MISSING), [None] * len(MISSING))
    return text.str.strip_prefix("+")


def plain(text: pl.Expr) -> pl.Expr:
    """Normalised decimal text in canonical plain notation (`.5` → `0.5`, `12.` → `12`)."""
    return canonical(normalised(text))


def canonical(text: pl.Expr) -> pl.Expr:
    """`plain` for text that is `normalised` already: only `.5` → `0.5` and `12.` → `12`."""
    leading_zero = text.map_batches(_leading_zero, return_dtype=pl.String, is_elementwise=True)
    return leading_zero.str.strip_suffix(".")


def _leading_zero(values: pl.Series) -> pl.Series:
    """`.5` → `0.5`, `-.5` → `-0.5`; on the computed values, which polars then reads more than once
    for free (inside an expression the whole input would be worked out again per use)."""
    text = pl.col("v")
    return (
        values.to_frame("v")
        .select(
            pl.when(text.str.starts_with("."))
            .then(pl.concat_str(pl.lit("0"), text))
            .when(text.str.starts_with("-."))
            .then(pl.concat_str(pl.lit("-0"), text.str.slice(1)))
            .otherwise(text)
        )
        .to_series()
        .alias(values.name)
    )


def is_invalid(text: pl.Expr, *, missing: bool = False) -> pl.Expr:
    """True where a normalised value is not a plain decimal (`invalid_reason` says why); a
    missing value counts as invalid only with `missing=True`.

    One regex over the column; the reason's several patterns are only worth running on the few
    rows this flags. `text` is used once: see `normalised`.
    """
    return ~text.str.contains(_PLAIN).fill_null(not missing)


def invalid_reason(text: pl.Expr) -> pl.Expr:
    """Why a normalised value is not a plain decimal, or null when it is fine (or missing)."""
    lowered = text.str.to_lowercase()
    return (
        pl.when(text.is_null() | text.str.contains(_PLAIN))
        .then(None)
        .when(lowered.str.contains(r"^[+-]?(nan|inf|infinity)$"))
        .then(pl.lit("not a number (NaN/infinity); costs must be finite decimals"))
        .when(text.str.contains(r"[$€£¥₹]|^[A-Z]{3}\s|\s[A-Z]{3}$"))
        .then(
            pl.lit("has a currency symbol or code; give the bare number and declare the currency")
        )
        .when(text.str.contains(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"))
        .then(pl.lit("has a thousands separator; export numbers without grouping"))
        .when(lowered.str.contains(r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)e[+-]?[0-9]+$"))
        .then(pl.lit("is in exponent notation; export plain decimals"))
        .otherwise(pl.lit("is not a decimal number"))
    )


_EXPONENT = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+$"


def expand_exponents(text: pl.Expr) -> pl.Expr:
    """Normalised text with exponent notation (`1.5E-3`) rewritten exactly in plain notation.

    Only for sources that declare `exponent: allow`; everything else is left for
    `invalid_reason` to judge.
    """
    text = normalised(text)
    return (
        pl.when(text.str.contains(_EXPONENT))
        .then(text.map_elements(_plain_text, return_dtype=pl.String))
        .otherwise(text)
    )


def _plain_text(value: str) -> str:
    if not re.match(_EXPONENT, value):
        return value
    return format(Decimal(value), "f")


def exact_sum(values: pl.Series) -> Decimal:
    """The exact sum of plain decimal strings (nulls count as zero), without trailing zeros."""
    values = values.drop_nulls()
    if values.len() == 0:
        return Decimal(0)
    short = plain_sum(values) if values.dtype == pl.String else None
    if short is not None:
        return short
    # Bytes, not characters: never fewer, so the 128-bit path is only taken when it surely fits.
    text = pl.col("v")
    length = text.str.len_bytes().cast(pl.Int64)
    dot = text.str.find(".", literal=True).cast(pl.Int64)
    sizes = (
        values.to_frame("v")
        .select(
            scale=(length - dot - 1).max(),
            digits=(dot.fill_null(length) - text.str.starts_with("-").cast(pl.Int64)).max(),
        )
        .row(0)
    )
    scale, digits = int(sizes[0] or 0), int(sizes[1] or 1)
    if scale + digits + 7 <= 38:
        total = values.str.to_decimal(scale=scale).sum()
        return _trimmed(Decimal(total) if total is not None else Decimal(0))
    # Too many digits for a 128-bit decimal: exact but slower.
    exact = Decimal(0)
    for value in values.to_list():
        exact = EXACT.add(exact, Decimal(value))
    return _trimmed(exact)


# Every plain decimal text of at most 16 characters (a 16-digit whole number, a 15-digit
# fraction) fits a 128-bit decimal with 15 places, with room for a sum of millions of them.
_SHORT_SCALE = 15
_SHORT_TEXT = _SHORT_SCALE + 1


def plain_sum(values: pl.Series) -> Decimal | None:
    """The exact sum of a String series (nulls count as zero) when every present value is plain
    decimal text (what `is_invalid` accepts) of at most 16 characters; otherwise None, and the
    caller takes the general path.

    One parallel pass, no new strings: the check and the sum run side by side, and the sum only
    counts when the check passed (a value the check refuses may be read as something else).
    """
    present = values.len() - values.null_count()
    if present == 0:
        return Decimal(0)
    text = pl.col("v")
    try:
        plain, longest, total = (
            values.to_frame("v")
            .select(
                text.str.contains(_PLAIN).all().alias("plain"),
                text.str.len_bytes().max().alias("longest"),
                text.str.to_decimal(scale=_SHORT_SCALE).sum().alias("total"),
            )
            .row(0)
        )
    except pl.exceptions.ComputeError:  # the sum overflowed: values too long, or not plain text
        return None
    # Each value is below 10**longest, so the sum of `present` of them has at most
    # longest + len(str(present)) whole digits; with 15 places that must stay within 38 digits.
    if not plain or longest > _SHORT_TEXT or longest + len(str(present)) > 38 - _SHORT_SCALE:
        return None
    return _trimmed(Decimal(total) if total is not None else Decimal(0))


def exact_sums_by(keys: pl.Series, values: pl.Series) -> list[tuple[object, int, Decimal]]:
    """(key, rows, exact sum of its values) for each distinct key, each sum as `exact_sum`
    gives it.

    When every value is short plain text (`plain_sum` reads the whole column), every group's
    sum fits a 128-bit decimal too, and the groups are summed in one pass without copying any
    value; otherwise each group's values are gathered and summed by `exact_sum`.
    """
    pairs = pl.DataFrame({"key": keys, "v": values})
    if values.dtype == pl.String and plain_sum(values) is not None:
        total = pl.col("v").str.to_decimal(scale=_SHORT_SCALE).sum().alias("sum")
        summed = pairs.group_by("key").agg(pl.len().alias("rows"), total)
        return [
            (key, rows, _trimmed(Decimal(sum_) if sum_ is not None else Decimal(0)))
            for key, rows, sum_ in summed.iter_rows()
        ]
    groups = pairs.group_by("key").agg(pl.len().alias("rows"), pl.col("v"))
    keys_, rows, gathered = (groups.get_column(c) for c in ("key", "rows", "v"))
    return [(keys_[i], rows[i], exact_sum(gathered[i])) for i in range(groups.height)]


def is_canonical(values: pl.Series) -> bool:
    """Whether every present value is already canonical plain text (what `plain` makes), so
    summing it needs no normalising pass."""
    return bool(values.drop_nulls().str.contains(_CANONICAL).all())


_CANONICAL = r"^-?[0-9]+(?:\.[0-9]+)?$"


def _trimmed(value: Decimal) -> Decimal:
    # Sums of spread parts carry many decimals; 12.5000000 and 12.5 are the same money.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text if text not in ("", "-0") else "0")
