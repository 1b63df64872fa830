"""Metadata a person reads at a glance in the Dagster UI."""

from decimal import Decimal

import dagster as dg
import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.defs.names import TOTAL_COST, TOTAL_COST_EXACT


def cost_by(frame: pl.DataFrame, cost_column: str, by: str, label: str) -> dg.MarkdownMetadataValue:
    """A markdown table of exact cost totals per value of `by`."""
    if by not in frame.columns or frame.is_empty():
        return dg.MetadataValue.md("_no rows_")
    lines = [f"| {label} | rows | cost |", "|---|---:|---:|"]
    for key, group in sorted(frame.group_by(by), key=lambda kg: str(kg[0][0])):
        text = decimals.normalised(pl.col(cost_column))
        # A raw month may hold values the mapping will reject; they count as nothing here.
        readable = pl.when(decimals.invalid_reason(text).is_null()).then(
            decimals.plain(pl.col(cost_column))
        )
        total = decimals.exact_sum(group.select(readable).to_series())
        lines.append(f"| {key[0]} | {group.height:,} | {total} |")
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
