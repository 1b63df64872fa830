"""Metadata a person reads at a glance in the Dagster UI."""

from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl

from anycost_pipeline.cbf import decimals, money
from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.rejects import REASONS
from anycost_pipeline.cbf.resolve import money_format_of
from anycost_pipeline.cbf.spec import FromColumn
from anycost_pipeline.config import AnySource, is_url
from anycost_pipeline.defs.names import (
    COST_BY_LINE_ITEM_TYPE,
    COST_BY_SERVICE,
    TOTAL_COST,
    TOTAL_COST_EXACT,
)
from anycost_pipeline.figures import counted, shown

SERVICE = "resource/service"
LISTED_FILES = 50


def cost_by(
    frame: pl.DataFrame,
    cost_column: str,
    by: str,
    label: str,
    money_format: MoneyFormat | None = None,
    scale: str | None = None,
) -> dg.MarkdownMetadataValue:
    """A markdown table of exact cost totals per value of `by`, each written as the CLI writes
    money (`-30.00`, `3.10`; never fewer digits than the total has); costs written as money
    are read by their `money_format`, and each total × the cost column's `scale` (cents)."""
    if by not in frame.columns or frame.is_empty():
        return dg.MetadataValue.md("_no rows_")
    readable = pl.col(cost_column)
    if money_format is not None:  # never summed as plain text: `1.234` may mean 1234
        text = decimals.normalised(readable)
        read = decimals.canonical(money.plain_text(text, money_format))
        readable = pl.when(money.fits(text, money_format)).then(read)
    elif frame.schema[cost_column] != pl.String or not decimals.is_canonical(
        frame.get_column(cost_column)
    ):  # canonical text (as exports and CBF frames hold) is summed as it is, without a copy
        text = decimals.normalised(readable)
        # A raw month may hold values the mapping will reject; they count as nothing here.
        readable = pl.when(decimals.invalid_reason(text).is_null()).then(decimals.plain(readable))
    # Only the two columns read: grouping the frame would copy every column of the month.
    pairs = frame.select(pl.col(by).alias("key"), readable.alias("cost"))
    sums = decimals.exact_sums_by(pairs.get_column("key"), pairs.get_column("cost"))
    lines = [f"| {label} | rows | cost |", "|---|---:|---:|"]
    for key, rows, total in sorted(sums, key=lambda group: str(group[0])):
        if scale is not None:
            total = decimals.EXACT.multiply(total, Decimal(scale))
        lines.append(f"| {key} | {rows:,} | {shown(total)} |")  # as the CLI prints it
    return dg.MetadataValue.md("\n".join(lines))


def cost_metadata(total: Decimal) -> dict[str, dg.MetadataValue]:
    """The exact total as text, and as a number so the UI can plot it month over month."""
    return {
        TOTAL_COST: dg.MetadataValue.float(float(total)),
        TOTAL_COST_EXACT: dg.MetadataValue.text(format(total, "f")),  # never 1.81E-8
    }


def problems_table(problems: pl.DataFrame, limit: int = 20) -> dg.MarkdownMetadataValue:
    """The first offending rows as a markdown table."""
    lines = ["| file | row | column | value | reason |", "|---|---:|---|---|---|"]
    for file, row, column, value, reason in problems.head(limit).iter_rows():
        lines.append(f"| {file} | {row} | {column} | {value} | {reason} |")
    if problems.height > limit:
        lines.append(f"| … | | | | {problems.height - limit:,} more |")
    return dg.MetadataValue.md("\n".join(lines))


def rejects_table(rejects: pl.DataFrame, limit: int = 20) -> dg.MarkdownMetadataValue:
    """The first rejected source rows with their reasons, as a markdown table."""
    lines = ["| file | row | reasons |", "|---|---:|---|"]
    for file, row, reasons in (
        rejects.select(SOURCE_FILE, SOURCE_ROW, REASONS).head(limit).iter_rows()
    ):
        lines.append(f"| {Path(file).name} | {row} | {reasons} |")
    return dg.MetadataValue.md("\n".join(lines))


def origins_list(origins: list[str]) -> dg.MarkdownMetadataValue:
    """The files (or object-store URLs) a raw month came from, one per line, the first 50."""
    listed = "\n".join(f"- `{o if is_url(o) else Path(o).name}`" for o in origins[:LISTED_FILES])
    more = len(origins) - LISTED_FILES
    return dg.MetadataValue.md((listed or "_none_") + (f"\n- … {more} more" if more > 0 else ""))


def files_used(frame: pl.DataFrame) -> dg.MarkdownMetadataValue:
    """The source files that rows of the frame came from, as a markdown list."""
    if SOURCE_FILE not in frame.columns or frame.is_empty():
        return dg.MetadataValue.md("_none_")
    files = sorted(frame.get_column(SOURCE_FILE).drop_nulls().unique().to_list())
    if not files:
        return dg.MetadataValue.md("_none_")
    # One paragraph, not a list: a month of daily exports would otherwise fill the screen.
    return dg.MetadataValue.md(
        f"{counted(len(files), 'file')}: " + ", ".join(f"`{Path(f).name}`" for f in files)
    )


def source_breakdown(rows: pl.DataFrame, source: AnySource) -> dict[str, dg.MetadataValue]:
    """Cost by the source columns that become line item type and service, before any mapping."""
    cost_column = source.cost_column
    found: dict[str, dg.MetadataValue] = {}
    if cost_column is None or cost_column not in rows.columns:  # priced by a rate card, or absent
        return found
    for cbf_column, key, label in (
        (LINE_ITEM_TYPE, COST_BY_LINE_ITEM_TYPE, "line item type"),
        (SERVICE, COST_BY_SERVICE, "service"),
    ):
        spec = source.columns.get(cbf_column)
        if (
            isinstance(spec, FromColumn)
            and isinstance(spec.column, str)
            and spec.column in rows.columns
        ):
            found[key] = cost_by(
                rows,
                cost_column,
                spec.column,
                f"{label} (source column `{spec.column}`)",
                money_format_of(COST, source.columns[COST], source),
                getattr(source.columns[COST], "scale", None),
            )
    return found
