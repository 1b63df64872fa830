"""Every bad source value of a month, found before anything is built: decimals, charge types,
values outside a value map, end times, rates."""

import polars as pl

from anycost_pipeline.cbf import decimals, money, pricing
from anycost_pipeline.cbf.charges import charge_type
from anycost_pipeline.cbf.columns import (
    COST,
    DECIMAL_COLUMNS,
    LINE_ITEM_TYPE,
    LINE_ITEM_TYPES,
    USAGE_END,
    USAGE_START,
)
from anycost_pipeline.cbf.errors import no_problems, problem_frame
from anycost_pipeline.cbf.hours import HOUR
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.resolve import decimal_text, money_format_of, source_text
from anycost_pipeline.cbf.spec import ChargeType, ColumnSpec, ColumnSum, FromColumn
from anycost_pipeline.cbf.times import cbf_time, describe_formats, utc_time


def value_problems(
    frame: pl.DataFrame, columns: dict[str, ColumnSpec], options: MappingOptions, ready: set[str]
) -> pl.DataFrame:
    """Every bad value in the month: decimals, unmapped values, charge types, end times, rates.

    `ready` names decimal columns already known to hold only canonical text or nothing."""
    have = set(frame.columns)
    found = [no_problems()]
    for name, spec in columns.items():
        if name in DECIMAL_COLUMNS and isinstance(spec, FromColumn):
            # With a default, an empty value is filled, not missing.
            required = name == COST and options.rate_card is None and spec.default is None
            for column in spec.columns:
                if column in ready and not (required and frame.get_column(column).has_nulls()):
                    continue
                found.append(
                    _decimal_problems(
                        frame,
                        column,
                        options,
                        required=required,
                        money_format=money_format_of(name, spec, options),
                    )
                )
        if name in DECIMAL_COLUMNS and isinstance(spec, ColumnSum):
            for column in spec.columns:
                found.append(
                    _decimal_problems(
                        frame,
                        column,
                        options,
                        required=spec.empty == "error",
                        money_format=money_format_of(name, spec, options),
                        missing=f"is missing; {name} is worked out from it (or declare "
                        "`empty: zero` for it)",
                    )
                )
        read_as_charge_type = isinstance(spec, ChargeType) or (
            name == LINE_ITEM_TYPE
            and isinstance(spec, FromColumn)
            and spec.map is None
            and spec.default is None
        )
        if read_as_charge_type:
            column = spec.charge_category if isinstance(spec, ChargeType) else spec.columns[0]  # type: ignore[union-attr]
            known = ", ".join(sorted(LINE_ITEM_TYPES) + ["Refund"])
            found.append(
                problem_frame(
                    frame,
                    charge_type(have, spec).is_null() & pl.col(column).is_not_null(),  # type: ignore[arg-type]
                    column,
                    f"not a known charge type ({known}); add it to `map` for {name}",
                    pl.col(column),
                )
            )
        if (
            isinstance(spec, FromColumn)
            and spec.map is not None
            and spec.default is None
            and spec.unmapped == "error"
        ):
            known = ", ".join(sorted(spec.map))
            source_value = source_text(have, spec)
            found.append(
                problem_frame(
                    frame,
                    source_value.is_not_null() & ~source_value.is_in(list(spec.map)),
                    spec.columns[0],
                    f"not in the value map for {name} ({known}); add it to the map or give a default",
                    source_value,
                )
            )
        if name == USAGE_END and isinstance(spec, FromColumn):
            text = source_text(have, spec)
            end = utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
            found.append(
                problem_frame(
                    frame,
                    text.is_not_null() & end.is_null(),
                    spec.columns[0],
                    f"not a timestamp in time zone {options.timezone}"
                    + describe_formats(options.time_format),
                    text,
                )
            )
            found.append(_ends_before_start(frame, options, end, spec.columns[0], text))
    if options.spread is not None and options.spread.end:
        column = options.spread.end
        text = pl.col(column).cast(pl.String).str.strip_chars()
        end = utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
        found.append(
            problem_frame(
                frame,
                text.is_not_null() & (text != "") & end.is_null(),
                column,
                f"not a timestamp in time zone {options.timezone}"
                + describe_formats(options.time_format),
                text,
            )
        )
        found.append(_ends_before_start(frame, options, end, column, text))
    card = options.rate_card
    if card is not None:
        found.append(_decimal_problems(frame, card.quantity, options, required=True))
        keys = ", ".join(f"{c}={{}}" for c in card.match)
        found.append(
            problem_frame(
                frame,
                pl.col(pricing.RATE).is_null(),
                card.match[0],
                pl.format(f"no rate in the rate card for {keys}", *[pl.col(c) for c in card.match]),
                pl.col(card.match[0]),
            )
        )
    return pl.concat(found)


def _ends_before_start(
    frame: pl.DataFrame,
    options: MappingOptions,
    end: pl.Expr,
    column: str,
    text: pl.Expr,
) -> pl.DataFrame:
    """Rows whose end time (`end`, read from `text` of `column`) comes before their start.

    An end before the start's hour is caught from the hour alone; only an end within that hour
    needs the start's exact time, so the start column is read again just for those few rows.
    """
    start = _start_text(frame, options)
    # One reason for both uses of an end column (`time/usage_end` and `spread.end`), so a
    # column that feeds both is reported once.
    reason = pl.format("ends before the usage starts ('{}')", start)
    hour = pl.col(HOUR)
    found = [problem_frame(frame, end < hour, column, reason, text)]
    close = frame.filter(((end >= hour) & (end < hour + pl.duration(hours=1))).fill_null(False))
    if close.height:
        instant = utc_time(start, options.timezone, options.time_format, options.ambiguous_time)
        found.append(problem_frame(close, end < instant, column, reason, text))
    return pl.concat(found)


def _start_text(frame: pl.DataFrame, options: MappingOptions) -> pl.Expr:
    """The source text of each row's start time (its hour, where the start is not one column)."""
    spec = options.columns.get(USAGE_START)
    if isinstance(spec, FromColumn):
        return source_text(set(frame.columns), spec)
    return cbf_time(pl.col(HOUR))


def _decimal_problems(
    frame: pl.DataFrame,
    column: str,
    options: MappingOptions,
    *,
    required: bool,
    money_format: MoneyFormat | None = None,
    missing: str = "is missing; every row needs a cost",
) -> pl.DataFrame:
    if money_format is not None:
        written = decimals.normalised(pl.col(column))
        return problem_frame(
            frame,
            (~money.fits(written, money_format)).fill_null(required),
            column,
            pl.when(written.is_null())
            .then(pl.lit(missing))
            .otherwise(pl.lit(money.misfit_reason(money_format))),
            pl.col(column),
        )
    text = decimal_text(pl.col(column), options)
    # `problem_frame` filters first, so the reason is only worked out for the bad rows.
    reason = decimals.invalid_reason(text)
    bad = decimals.is_invalid(text, missing=required)
    if required:
        reason = pl.when(text.is_null()).then(pl.lit(missing)).otherwise(reason)
    return problem_frame(frame, bad, column, reason, pl.col(column))
