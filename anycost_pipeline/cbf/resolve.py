"""Which declared columns apply to a month's frame, and how their source text is read: missing
markers, trimmed text, decimal text, and the columns already clean enough to take as they are."""

from collections.abc import Container, Sequence

import polars as pl

from anycost_pipeline.cbf import decimals, money
from anycost_pipeline.cbf.columns import DECIMAL_COLUMNS
from anycost_pipeline.cbf.errors import require_columns
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.spec import (
    ChargeType,
    ColumnSpec,
    ColumnSum,
    FromColumn,
    Template,
    template_fields,
)


def as_missing(frame: pl.DataFrame, markers: Sequence[str]) -> pl.DataFrame:
    """The frame with every source text cell that is one of `markers` (`null_values`) as no value."""
    if not markers:
        return frame
    data = [c for c, t in frame.schema.items() if not c.startswith("_") and t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.strip_chars().is_in(list(markers)))
        .then(None)
        .otherwise(pl.col(c))
        .alias(c)
        for c in data
    )


def resolve_columns(
    frame: pl.DataFrame, source: str, options: MappingOptions
) -> dict[str, ColumnSpec]:
    """The column specs that apply to this frame: optional ones whose columns are absent drop out."""
    have = set(frame.columns)
    columns: dict[str, ColumnSpec] = {}
    required: list[str] = []
    for name, spec in options.columns.items():
        if isinstance(spec, FromColumn):
            present = [c for c in spec.columns if c in have]
            if not present:
                if spec.optional:
                    continue
                required.append(spec.columns[0])
                continue
            columns[name] = spec.model_copy(
                update={"column": present if len(present) > 1 else present[0]}
            )
        elif isinstance(spec, Template):
            if not spec.optional:
                required += template_fields(spec.template)
            columns[name] = spec
        elif isinstance(spec, ChargeType):
            required.append(spec.charge_category)
            columns[name] = spec
        elif isinstance(spec, ColumnSum):
            required += spec.columns
            columns[name] = spec
        else:
            columns[name] = spec
    if options.rate_card is not None:
        required += [options.rate_card.quantity, *options.rate_card.match]
    if options.tags is not None:
        required += list(options.tags.columns.values())
        if options.tags.column and not options.tags.optional:
            required.append(options.tags.column)
    if options.spread is not None and options.spread.end:
        required.append(options.spread.end)
    require_columns(frame, source, required)
    return columns


def source_text(
    frame_columns: set[str], spec: FromColumn, clean: Container[str] = frozenset()
) -> pl.Expr:
    """The spec's source text, trimmed, an empty cell as no value; a column in `clean` (see
    `clean_text`) is that already and is taken as it is, without a copy."""
    values = [
        pl.col(c) if c in clean else pl.col(c).cast(pl.String).str.strip_chars().replace("", None)
        for c in spec.columns
        if c in frame_columns
    ]
    if not values:  # none of the columns exists; `resolve_columns` reports it where it is required
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(values) if len(values) > 1 else values[0]


def decimal_text(
    text: pl.Expr, options: MappingOptions, money_format: MoneyFormat | None = None
) -> pl.Expr:
    """Decimal text normalised: money read by its declared format (`money_format_of`; a value
    that does not fit becomes null), else exponents written out where the source allows them."""
    if money_format is not None:
        return money.plain_text(decimals.normalised(text), money_format)
    return (
        decimals.expand_exponents(text)
        if options.exponent == "allow"
        else decimals.normalised(text)
    )


def money_format_of(name: str, spec: ColumnSpec, options: MappingOptions) -> MoneyFormat | None:
    """The money format a decimal CBF column is read with: its own, else the source's."""
    if name not in DECIMAL_COLUMNS:
        return None
    own = getattr(spec, "money_format", None)
    return own if own is not None else options.money_format


def canonical_decimals(
    frame: pl.DataFrame, columns: dict[str, ColumnSpec], options: MappingOptions
) -> set[str]:
    """Source columns of money that already hold canonical decimal text (or nothing) on every row.

    Exports usually write plain decimals; for those, checking and normalising each value would
    only copy the column to find it unchanged. One regex pass proves there is nothing to do.
    A column with a money format is always read by it: `1.234` may mean 1234.
    """
    candidates = {
        spec.columns[0]
        for name, spec in columns.items()
        if name in DECIMAL_COLUMNS
        and isinstance(spec, FromColumn)
        and len(spec.columns) == 1
        and spec.map is None
        and spec.default is None
        and money_format_of(name, spec, options) is None
        and frame.schema.get(spec.columns[0]) == pl.String
    }
    return {column for column in candidates if decimals.is_canonical(frame.get_column(column))}


def clean_text(frame: pl.DataFrame, columns: dict[str, ColumnSpec]) -> set[str]:
    """Source text columns that trimming would leave as they are, holding no empty cell.

    Exports usually write their values trimmed; for those, trimming each value and mapping ""
    to no value would only copy the column to find it unchanged. A CBF column taken from such a
    column shares its memory. `\\s` is Unicode's White_Space, what `strip_chars` trims.
    """
    names = {
        name
        for spec in columns.values()
        for name in (
            spec.columns
            if isinstance(spec, FromColumn)
            else template_fields(spec.template)
            if isinstance(spec, Template)
            else []
        )
        if frame.schema.get(name) == pl.String
    }
    if not names:
        return set()
    text = [pl.col(n) for n in sorted(names)]
    found = frame.select(
        (t.str.contains(r"^\s|\s$") | (t == "")).any().alias(t.meta.output_name()) for t in text
    ).row(0, named=True)
    return {name for name, unclean in found.items() if not unclean}
