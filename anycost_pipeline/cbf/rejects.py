"""Rejects: the source rows kept aside whole, each with all its reasons, and which rows stay."""

import polars as pl

from anycost_pipeline.cbf.errors import LINEAGE_COLUMNS, SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.cbf.hours import HOUR

REASONS = "_reasons"


def not_in(frame: pl.DataFrame, problems: pl.DataFrame) -> pl.Series:
    """True for each row of `frame` whose source row (file, row) `problems` does not name."""
    keys = problems.select(SOURCE_FILE, SOURCE_ROW).unique()
    marked = frame.select(SOURCE_FILE, SOURCE_ROW).join(
        keys.with_columns(pl.lit(True).alias("_bad")),
        on=[SOURCE_FILE, SOURCE_ROW],
        how="left",
        maintain_order="left",
    )
    return marked.get_column("_bad").is_null()


def _kept_with_rejects(frame: pl.DataFrame) -> list[str]:
    """The columns a rejected row keeps: lineage, its UTC hour (the month's part of a spread
    charge is worked out from it) and every source column."""
    hour = [HOUR] if HOUR in frame.columns else []
    return [*LINEAGE_COLUMNS, *hour, *[c for c in frame.columns if not c.startswith("_")]]


def empty_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """No rejected row, in the columns rejects of this frame have."""
    return (
        frame.head(0)
        .select(_kept_with_rejects(frame))
        .with_columns(pl.lit(None, pl.String).alias(REASONS))
    )


def rejected_rows(frame: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    """The source rows named in `problems`, whole, each with all its reasons in `_reasons`."""
    reasons = problems.group_by(SOURCE_FILE, SOURCE_ROW, maintain_order=True).agg(
        pl.format("column '{}': value '{}': {}", "column", pl.col("value").fill_null(""), "reason")
        .str.join("; ")
        .alias(REASONS)
    )
    return frame.select(_kept_with_rejects(frame)).join(
        reasons, on=[SOURCE_FILE, SOURCE_ROW], how="inner", maintain_order="left"
    )
