"""Cost conservation: the month's cost as the source states it, and what is sent, each summed
here on its own.

The `cost_conserved` check compares sent + rejected with the source, to the last digit. Its
sums are plain Decimal additions written in this module, not the fast sums of `decimals` that
the mapping and the validation use, so that a bug in those cannot hide itself by agreeing with
itself. The source's text is read as the mapping reads it (the same missing markers, exponent
option, money format, rate card and currency), since what counts as a readable cost must agree.
"""

import decimal
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals, pricing
from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.cbf.hours import HOUR, charge_ends
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.resolve import as_missing, decimal_text, money_format_of, source_text
from anycost_pipeline.cbf.spec import ColumnSum, FromColumn
from anycost_pipeline.cbf.spread import month_share, whole_end
from anycost_pipeline.months import Month

# Python's default decimal context rounds at 28 significant digits; these sums never round.
_NEVER_ROUNDS = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


# Values turned into Python text at a time: a month's million at once would hold about 60 MB.
_CHUNK = 65_536


def checked_total(values: pl.Series) -> Decimal:
    """The exact sum of decimal text, nulls left out: each value read by `Decimal` and added,
    one at a time, with no short cut; without trailing zeros (`12.50` → `12.5`)."""
    present = values.drop_nulls()
    total = Decimal(0)
    with decimal.localcontext(_NEVER_ROUNDS):
        for start in range(0, present.len(), _CHUNK):
            total = sum(map(Decimal, present.slice(start, _CHUNK).to_list()), total)
        text = format(total.normalize(), "f")
    return Decimal("0" if text == "-0" else text)


def sent_cost(cbf: pl.DataFrame) -> Decimal:
    """The exact total of a CBF frame's `cost/cost`, summed by `checked_total`."""
    return checked_total(cbf.get_column(COST))


def source_cost(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[Decimal, int]:
    """The month's cost as the source states it (after rate card and currency), and how many
    rows hold no readable cost. Used to prove that sent + rejected = source, exactly.

    A spread charge whose hours fall in two months counts with its part of this month's
    hours, worked out from the charge itself (`month_share`)."""
    crossing = _crossing_charges(frame, options, month)
    short = None if crossing is not None else _plain_source_cost(frame, options, month)
    if short is not None:
        return short
    frame = as_missing(frame, options.null_values)
    if options.rate_card is not None and month is not None:
        try:
            priced = pricing.with_rates(frame, options.rate_card, str(month))
            costs = pricing.rated_cost(
                priced, options.rate_card, allow_exponent=options.exponent == "allow"
            )
        except ValueError:
            return Decimal(0), frame.height
    elif isinstance(summed := options.columns[COST], ColumnSum):
        costs = _summed_costs(frame, summed, options)
    else:
        spec = options.columns[COST]
        assert isinstance(spec, FromColumn)
        # The text once, then the checks on it: an expression used twice would be worked out twice.
        stated = source_text(set(frame.columns), spec)
        if spec.default is not None:  # the source's own word for an empty cost (`default`)
            stated = stated.fill_null(pl.lit(spec.default, dtype=pl.String))
        money = money_format_of(COST, spec, options)
        texts = frame.select(decimal_text(stated, options, money).alias("_cost"))
        text = pl.col("_cost")
        costs = texts.select(
            pl.when(~decimals.is_invalid(text)).then(decimals.canonical(text))
        ).to_series()
        if spec.scale is not None:
            costs = _times(costs, spec.scale)
    if options.currency is not None and month is not None and str(month) in options.currency.rates:
        costs = pricing.multiply(costs, options.currency.rates[str(month)])
    if crossing is not None and month is not None and options.spread is not None:
        rows, ends = crossing
        shares = month_share(
            costs.gather(rows),
            frame.get_column(HOUR).gather(rows),
            ends.gather(rows),
            month,
            options.spread.extra_decimals,
        )
        costs = costs.cast(pl.String).scatter(rows, shares)
    return checked_total(costs), costs.null_count()


def _times(costs: pl.Series, factor: str) -> pl.Series:
    """Each cost × a column's `scale` (amounts in cents: 0.01), with Decimal here (not the
    mapping's `arithmetic.scaled`)."""
    with decimal.localcontext(_NEVER_ROUNDS):
        out = [None if c is None else format(Decimal(c) * Decimal(factor), "f") for c in costs]
    return pl.Series(COST, out, dtype=pl.String)


def _summed_costs(frame: pl.DataFrame, spec: ColumnSum, options: MappingOptions) -> pl.Series:
    """Each row's cost as a sum of columns states it, added here with Decimal (not by the
    mapping's `arithmetic`); null where a written term cannot be read, or where a term is empty
    without `empty: zero`."""
    money = money_format_of(COST, spec, options)
    columns = spec.columns
    written = frame.select(decimals.normalised(pl.col(c)).alias(c) for c in columns)
    texts = frame.select(decimal_text(pl.col(c), options, money).alias(c) for c in columns)
    readable = texts.select(
        pl.when(~decimals.is_invalid(pl.col(c))).then(decimals.canonical(pl.col(c))).alias(c)
        for c in columns
    )
    costs: list[str | None] = []
    with decimal.localcontext(_NEVER_ROUNDS):
        for stated, read in zip(written.iter_rows(), readable.iter_rows(named=True)):
            unreadable = any(s is not None and r is None for s, r in zip(stated, read.values()))
            empty = sum(s is None for s in stated)
            if unreadable or empty == len(columns) or (empty and spec.empty == "error"):
                costs.append(None)
                continue
            total = Decimal(0)
            for column, absolute, minus in spec.terms:
                if read[column] is not None:
                    term = abs(Decimal(read[column])) if absolute else Decimal(read[column])
                    total = total - term if minus else total + term
            costs.append(format(total, "f"))
    return pl.Series(COST, costs, dtype=pl.String)


def _crossing_charges(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[pl.Series, pl.Series] | None:
    """The rows (indices) of spread charges with hours outside the month, and every row's
    charge end; None when there is none."""
    if options.spread is None or month is None or HOUR not in frame.columns or frame.is_empty():
        return None
    ends = charge_ends(frame, options)
    start = pl.col(HOUR)
    whole = whole_end(start, pl.lit(ends))
    rows = frame.select(
        pl.arg_where(((start < month.start) | (whole > month.end)).fill_null(False))
    ).to_series()
    return (rows, ends) if rows.len() else None


def _plain_source_cost(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[Decimal, int] | None:
    """`source_cost` without reading the text again, when the cost is one text column whose
    every present value is plain decimal text already (as exports write it); None otherwise.

    Such text is left as it is by trimming, missing markers, `+` and exponent handling, and is
    never invalid: the readable total is the sum of the text, and only the empty cells are unreadable.
    """
    spec = options.columns.get(COST)
    rated = options.rate_card is not None and month is not None
    converted = (
        options.currency is not None and month is not None and str(month) in options.currency.rates
    )
    if rated or converted or not isinstance(spec, FromColumn) or spec.default is not None:
        return None
    if spec.scale is not None:
        return None
    if money_format_of(COST, spec, options) is not None:  # `1.234` may mean 1234
        return None
    present = [c for c in spec.columns if c in frame.columns]
    if len(present) != 1 or frame.schema[present[0]] != pl.String:
        return None
    values = as_missing(frame.select(present), options.null_values).get_column(present[0])
    if not values.to_frame("v").select((~decimals.is_invalid(pl.col("v"))).all()).item():
        return None
    return checked_total(values), values.null_count()
