"""The CBF frame of a month's good rows: each declared column's value, the usage hour as text,
rate card, currency, tags and resource ids."""

from collections.abc import Container

import polars as pl

from anycost_pipeline.cbf import decimals, pricing
from anycost_pipeline.cbf.arithmetic import column_sum, scaled
from anycost_pipeline.cbf.charges import charge_type
from anycost_pipeline.cbf.columns import (
    COST,
    COST_COLUMNS,
    DECIMAL_COLUMNS,
    LINE_ITEM_TYPE,
    RESOURCE_ID,
    USAGE_END,
    USAGE_START,
)
from anycost_pipeline.cbf.errors import LINEAGE_COLUMNS, SOURCE_ROW, MappingError
from anycost_pipeline.cbf.hours import HOUR, charge_ends
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.resolve import clean_text, decimal_text, money_format_of, source_text
from anycost_pipeline.cbf.resource_ids import (
    always_prefixed,
    encode_resource_id,
    prefixed_template,
)
from anycost_pipeline.cbf.spec import (
    ChargeType,
    ColumnSpec,
    ColumnSum,
    Constant,
    FromColumn,
    Template,
    template_fields,
)
from anycost_pipeline.cbf.spread import END
from anycost_pipeline.cbf.templates import filled_template
from anycost_pipeline.cbf.times import cbf_time, utc_time
from anycost_pipeline.months import Month

DEFAULT_LINE_ITEM_TYPE = "Usage"


def _expression(
    name: str, spec: ColumnSpec, frame_columns: set[str], clean: Container[str] = frozenset()
) -> pl.Expr:
    if isinstance(spec, Constant):
        return pl.lit(spec.value, dtype=pl.String)
    if isinstance(spec, Template):
        return filled_template(frame_columns, spec.template, clean)
    if isinstance(spec, ChargeType) or (name == LINE_ITEM_TYPE and spec.map is None):
        kind = charge_type(frame_columns, spec)
        if isinstance(spec, FromColumn) and spec.default is not None:
            kind = kind.fill_null(pl.lit(spec.default))
        return kind
    value = source_text(frame_columns, spec, clean)
    default = (
        None
        if spec.default is None
        else (
            filled_template(frame_columns, spec.default)
            if template_fields(spec.default)
            else pl.lit(spec.default, dtype=pl.String)
        )
    )
    if spec.map is not None:
        fallback = (
            value
            if spec.unmapped == "keep"
            else (default if default is not None else pl.lit(None, pl.String))
        )
        value = value.replace_strict(spec.map, default=fallback, return_dtype=pl.String)
        if spec.unmapped == "keep" and default is not None:
            value = value.fill_null(default)
    elif default is not None:
        value = value.fill_null(default)
    return value


def _summed(name: str, spec: ColumnSum, options: MappingOptions) -> pl.Expr:
    money_format = money_format_of(name, spec, options)
    return column_sum(
        spec, lambda c: decimals.canonical(decimal_text(pl.col(c), options, money_format))
    )


def build_cbf(
    frame: pl.DataFrame,
    source: str,
    columns: dict[str, ColumnSpec],
    options: MappingOptions,
    tags: pl.DataFrame | None,
    notes: dict[str, str],
    month: Month | None,
    ready: set[str],
) -> pl.DataFrame:
    """The CBF columns of the month's good rows (text), with lineage, `_hour` and, for a
    spreading source, each charge's end; `ready` as `canonical_decimals` gives it."""
    have = set(frame.columns)
    clean = clean_text(frame, columns)
    exprs: dict[str, pl.Expr] = {}
    for name, spec in columns.items():
        if isinstance(spec, ColumnSum):
            exprs[name] = _summed(name, spec, options)
            continue
        value = _expression(name, spec, have, clean)
        if name in DECIMAL_COLUMNS and isinstance(spec, FromColumn):
            proven = (
                spec.columns == [spec.columns[0]]
                and spec.columns[0] in ready
                and spec.default is None  # a default fills the empty values first
            )
            # A column proven canonical is sent as the source wrote it.
            value = (
                pl.col(spec.columns[0])
                if proven
                else decimals.canonical(
                    decimal_text(value, options, money_format_of(name, spec, options))
                )
            )
            if spec.scale is not None:
                value = scaled(value, spec.scale)
        if name == USAGE_END and isinstance(spec, FromColumn):
            value = cbf_time(
                utc_time(value, options.timezone, options.time_format, options.ambiguous_time)
            )
        exprs[name] = value
    # A month has at most 744 distinct hours: format each once, not once per row.
    hours = frame.get_column(HOUR).drop_nulls().unique()
    texts = hours.to_frame().select(cbf_time(pl.col(HOUR))).to_series()
    # Every hour but null is in `hours`, and null stays null. No `default`: with one, polars
    # cuts the result into chunks unlike the frame's, and every later with_columns on the frame
    # then copies the whole month to line them up again.
    exprs[USAGE_START] = (
        pl.col(HOUR).replace_strict(hours, texts, return_dtype=pl.String)
        if hours.len()
        else pl.lit(None, dtype=pl.String)  # replace_strict of nothing keeps the datetimes
    )
    if LINE_ITEM_TYPE not in exprs:
        exprs[LINE_ITEM_TYPE] = pl.lit(DEFAULT_LINE_ITEM_TYPE)
    id_spec = columns.get(RESOURCE_ID)
    prefixed = (
        options.resource_id_encoding == "service_prefix"
        and isinstance(id_spec, Template)
        and always_prefixed(id_spec.template)
        and not (options.tags is not None and options.tags.missing_resource_id)
    )
    if prefixed:
        exprs[RESOURCE_ID] = prefixed_template(
            frame, id_spec.template, clean, exprs.get("resource/service"), source
        )
    extra: list[pl.Expr | pl.Series] = [pl.col(HOUR)]
    if options.spread is not None:
        extra.append(charge_ends(frame, options).alias(END))
    cbf = frame.select(*[e.alias(n) for n, e in exprs.items()], *LINEAGE_COLUMNS, *extra)

    if options.rate_card is not None:
        cbf = cbf.with_columns(
            pricing.rated_cost(
                frame, options.rate_card, allow_exponent=options.exponent == "allow"
            ).alias(COST)
        )
        if "usage/amount" not in cbf.columns:
            quantity = decimals.plain(decimal_text(pl.col(options.rate_card.quantity), options))
            cbf = cbf.with_columns(frame.select(quantity).to_series().alias("usage/amount"))
        notes["rate_card_lines"] = str(len(options.rate_card.lines_for(str(month))))
    if options.currency is not None:
        if month is None:
            raise MappingError(source, "a currency conversion needs the month")
        try:
            rate = options.currency.rate_for(str(month))
        except ValueError as error:
            raise MappingError(source, str(error)) from None
        cbf = cbf.with_columns(
            pricing.multiply(cbf.get_column(c), rate) for c in COST_COLUMNS if c in cbf.columns
        )
        notes["currency_rate"] = (
            f"1 {options.currency.source} = {rate} {options.currency.target} ({month})"
        )
    if tags is not None and tags.width:
        twice = sorted(set(tags.columns) & set(cbf.columns))
        if twice:
            raise MappingError(
                source, f"{', '.join(twice)} come(s) both from `columns` and from `tags`; keep one"
            )
        cbf = cbf.hstack(tags)
        spec = options.tags
        if spec is not None and spec.missing_resource_id:
            current = pl.col(RESOURCE_ID) if RESOURCE_ID in cbf.columns else pl.lit(None, pl.String)
            # Beside a column of the frame, so that plain text is repeated on every row.
            fallback = frame.select(
                filled_template(have, spec.missing_resource_id).alias("_fallback"), SOURCE_ROW
            ).get_column("_fallback")
            cbf = (
                cbf.with_columns(fallback.alias("_fallback"))
                .with_columns(
                    pl.when(current.is_null() | (current == ""))
                    .then(pl.col("_fallback"))
                    .otherwise(current)
                    .alias(RESOURCE_ID)
                )
                .drop("_fallback")
            )
    if options.resource_id_encoding == "service_prefix" and RESOURCE_ID in cbf.columns:
        if not prefixed:
            cbf = cbf.with_columns(encode_resource_id(cbf, source).alias(RESOURCE_ID))
    return cbf
