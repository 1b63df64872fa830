"""Source rows to CBF rows, as declared per source in anycost.yaml."""

import string
from collections.abc import Mapping

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.columns import DECIMAL_COLUMNS, LINE_ITEM_TYPE, USAGE_START
from anycost_pipeline.cbf.errors import LINEAGE_COLUMNS, BadSourceData, Problem, problems_where
from anycost_pipeline.cbf.spec import ColumnSpec, Constant, FromColumn, Template
from anycost_pipeline.cbf.times import cbf_time, utc_hour
from anycost_pipeline.months import Month

HOUR = "_hour"
DEFAULT_LINE_ITEM_TYPE = "Usage"


def with_usage_hour(
    frame: pl.DataFrame, source: str, time_column: str, zone: str, time_format: str | None
) -> pl.DataFrame:
    """Add the UTC hour of each row; fail naming every timestamp that cannot be read."""
    _require_columns(frame, source, [time_column])
    text = pl.col(time_column)
    framed = frame.with_columns(utc_hour(text, zone, time_format).alias(HOUR))
    bad = pl.col(HOUR).is_null()
    problems, count = problems_where(
        framed,
        bad,
        time_column,
        f"not a timestamp in time zone {zone}"
        + (f" with format {time_format!r}" if time_format else " (ISO date or date-time expected)")
        + ", or a local time that does not exist or is ambiguous on a daylight-saving day",
        text,
    )
    if count:
        raise BadSourceData(source, problems, count)
    return framed


def rows_of_month(frame: pl.DataFrame, month: Month) -> pl.DataFrame:
    """The rows whose UTC hour falls inside the month (frame from `with_usage_hour`)."""
    return frame.filter((pl.col(HOUR) >= month.start) & (pl.col(HOUR) < month.end))


def to_cbf(frame: pl.DataFrame, source: str, columns: Mapping[str, ColumnSpec]) -> pl.DataFrame:
    """Map a month of source rows (with `_hour` and lineage columns) to a CBF frame of strings.

    The result holds the mapped CBF columns, all as text, plus the lineage columns
    `_source_file` and `_source_row` so later checks can point at the source row.
    """
    referenced = [name for spec in columns.values() for name in _source_columns(spec)]
    _require_columns(frame, source, referenced)
    exprs = {name: _expression(name, spec) for name, spec in columns.items()}
    exprs[USAGE_START] = cbf_time(pl.col(HOUR))
    if LINE_ITEM_TYPE not in exprs:
        exprs[LINE_ITEM_TYPE] = pl.lit(DEFAULT_LINE_ITEM_TYPE)
    cbf = frame.select(*[e.alias(n) for n, e in exprs.items()], *LINEAGE_COLUMNS)
    _check_decimals(frame, source, columns)
    _check_value_maps(frame, cbf, source, columns)
    return cbf.with_columns(
        decimals.plain(pl.col(name)).alias(name) for name in columns if name in DECIMAL_COLUMNS
    )


def _source_columns(spec: ColumnSpec) -> list[str]:
    if isinstance(spec, FromColumn):
        return [spec.column]
    if isinstance(spec, Template):
        return [n for _, n, _, _ in string.Formatter().parse(spec.template) if n]
    return []


def _expression(name: str, spec: ColumnSpec) -> pl.Expr:
    if isinstance(spec, Constant):
        return pl.lit(spec.value, dtype=pl.String)
    if isinstance(spec, Template):
        parts: list[pl.Expr] = []
        for literal, field, _, _ in string.Formatter().parse(spec.template):
            if literal:
                parts.append(pl.lit(literal))
            if field:
                parts.append(pl.col(field).cast(pl.String).str.strip_chars())
        return pl.concat_str(parts)
    value = pl.col(spec.column).cast(pl.String).str.strip_chars()
    if spec.map is not None:
        value = value.replace_strict(
            spec.map, default=pl.lit(spec.default, dtype=pl.String), return_dtype=pl.String
        )
    elif spec.default is not None:
        value = pl.when(value.is_null() | (value == "")).then(pl.lit(spec.default)).otherwise(value)
    return value


def _require_columns(frame: pl.DataFrame, source: str, names: list[str]) -> None:
    missing = sorted({n for n in names if n not in frame.columns})
    if missing:
        have = ", ".join(c for c in frame.columns if not c.startswith("_"))
        raise BadSourceData(
            source,
            [
                Problem("(every file)", 1, name, None, f"column not found; the source has: {have}")
                for name in missing
            ],
        )


def _check_decimals(frame: pl.DataFrame, source: str, columns: Mapping[str, ColumnSpec]) -> None:
    problems: list[Problem] = []
    total = 0
    for name, spec in columns.items():
        if name not in DECIMAL_COLUMNS or not isinstance(spec, FromColumn):
            continue
        text = decimals.normalised(pl.col(spec.column))
        reason = decimals.invalid_reason(text)
        bad = reason.is_not_null()
        if name == "cost/cost":
            reason = pl.when(text.is_null()).then(pl.lit("is missing; every row needs a cost")).otherwise(reason)
            bad = bad | text.is_null()
        found, count = problems_where(frame, bad, spec.column, reason, pl.col(spec.column))
        problems += found
        total += count
    if total:
        raise BadSourceData(source, problems, total)


def _check_value_maps(
    frame: pl.DataFrame, cbf: pl.DataFrame, source: str, columns: Mapping[str, ColumnSpec]
) -> None:
    problems: list[Problem] = []
    total = 0
    for name, spec in columns.items():
        if not (isinstance(spec, FromColumn) and spec.map is not None and spec.default is None):
            continue
        # replace_strict with no default yields null for values outside the map.
        unmapped = cbf.get_column(name).is_null() & frame.get_column(spec.column).is_not_null()
        known = ", ".join(sorted(spec.map))
        found, count = problems_where(
            frame.with_columns(unmapped.alias("_bad")),
            pl.col("_bad"),
            spec.column,
            f"not in the value map for {name} ({known}); add it to the map or give a default",
            pl.col(spec.column),
        )
        problems += found
        total += count
    if total:
        raise BadSourceData(source, problems, total)
