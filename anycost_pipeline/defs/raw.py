"""raw/<source>: every record of a month as the source last stated it."""

from typing import Any

import dagster as dg
import polars as pl

from anycost_pipeline import sources as readers
from anycost_pipeline.config import AnycostConfig, AnySource
from anycost_pipeline.defs.failures import user_errors
from anycost_pipeline.defs.metadata import (
    cost_metadata,
    origins_list,
    problems_table,
    source_breakdown,
)
from anycost_pipeline.defs.names import (
    CONTENT_DIGEST,
    FILES_USED,
    FRAMES_IO_MANAGER,
    MONTH,
    RAW,
    ROWS,
    ROWS_WITHOUT_A_COST,
    raw_key,
    scoped,
)
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month
from anycost_pipeline.sources.month import RawMonth, read_raw_month


def raw_asset(
    name: str, source: AnySource, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(name),
        io_manager_key=scoped(FRAMES_IO_MANAGER, project.scope),
        partitions_def=partitions,
        group_name=RAW,
        kinds={getattr(source, "format", None) or source.kind, "polars"},
        description=(
            f"Step 1 of 3 for source `{name}`: every record whose time falls in this month (UTC; "
            f"times without an offset are read as `{source.timezone}`), exactly as the source states "
            f"it. {readers.describe(name, source)} Nothing is sent from here. A value that cannot be "
            "read stops the month here, naming the file, row and column."
        ),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        month = Month.parse(context.partition_key)
        with user_errors(declared_in=project.declared_in):
            raw = read_raw_month(name, source, project, month)
        if raw.untimed.height:
            context.log.warning(
                f"{counted(raw.untimed.height, 'row')} of {name} without a readable time, so in no "
                "month; see `rows_without_a_time`"
            )
        return dg.Output(raw.rows, metadata=raw_metadata(raw, source, month))

    return _raw


def raw_metadata(raw: RawMonth, source: AnySource, month: Month) -> dict[str, Any]:
    """Rows, cost and files of the month, rows without a time, and the source's own breakdown."""
    untimed = raw.untimed.height
    return {
        ROWS: len(raw.rows),
        **cost_metadata(raw.total),
        **({ROWS_WITHOUT_A_COST: raw.unreadable} if raw.unreadable else {}),
        MONTH: str(month),
        "months_in_source": ", ".join(raw.months),
        FILES_USED: origins_list(raw.origins),
        **(
            {
                "rows_without_a_time": untimed,
                "first_rows_without_a_time": problems_table(raw.untimed),
            }
            if untimed
            else {}
        ),
        **source_breakdown(raw.rows, source),
        **({CONTENT_DIGEST: raw.digest} if raw.digest else {}),
    }
