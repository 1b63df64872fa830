"""Cost breakdowns of a raw month, in the source's own terms, for the raw/<source> metadata."""

import dagster as dg
import polars as pl

from anycost_pipeline.cbf.columns import LINE_ITEM_TYPE
from anycost_pipeline.cbf.spec import FromColumn
from anycost_pipeline.config import SourceConfig
from anycost_pipeline.defs.metadata import cost_by
from anycost_pipeline.defs.names import COST_BY_LINE_ITEM_TYPE, COST_BY_SERVICE

SERVICE = "resource/service"


def source_breakdown(rows: pl.DataFrame, source: SourceConfig) -> dict[str, dg.MetadataValue]:
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
                rows, cost_column, spec.column, f"{label} (source column `{spec.column}`)"
            )
    return found
