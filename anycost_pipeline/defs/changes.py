"""What a submission changes: metadata comparing a month with its previous accepted submission."""

import dagster as dg
import polars as pl
from upath import UPath

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.diff import MonthDiff, month_diff
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.io_manager import frames_folder
from anycost_pipeline.defs.metadata import SERVICE, cost_by, files_used
from anycost_pipeline.defs.names import CHANGE, COST_BY_SERVICE, FILES_USED, drop_key
from anycost_pipeline.figures import counted, shown, signed


def stored_drop_path(project: AnycostConfig, connection: str, month: str) -> UPath:
    """Where the IO manager keeps the last accepted submission of a month."""
    return frames_folder(project).joinpath(*drop_key(connection), f"{month}.parquet")


def previous_drop(project: AnycostConfig, connection: str, month: str) -> pl.DataFrame | None:
    """The month as last accepted, or None when it was never submitted.

    Call it before the asset returns: the IO manager overwrites the file with the new month.
    """
    path = stored_drop_path(project, connection, month)
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        schema = pl.read_parquet_schema(handle)
        handle.seek(0)
        # Lineage columns (`_*`) are no part of a row's identity: they are not read.
        return pl.read_parquet(handle, columns=[c for c in schema if not c.startswith("_")])


def _delta_table(diff: MonthDiff) -> dg.MarkdownMetadataValue:
    if not diff.cost_delta_by_service:
        return dg.MetadataValue.md("_no service's cost changed_")
    lines = ["| service | cost change |", "|---|---:|"]
    lines += [
        f"| {service} | {signed(delta)} |" for service, delta in diff.cost_delta_by_service.items()
    ]
    return dg.MetadataValue.md("\n".join(lines))


def _summary(
    operation: str,
    month: str,
    cbf: pl.DataFrame,
    before: pl.DataFrame | None,
    diff: MonthDiff,
    sent: bool,
) -> str:
    """What the submission did to CloudZero's month, for its operation. Two short paragraphs:
    the UI's metadata column is narrow and does not wrap long lines."""
    if not sent:
        return (
            f"Nothing was sent: CloudZero already holds {month} as last submitted "
            f"({counted(cbf.height, 'row')}).\n\nCost {shown(diff.cost_after)}."
        )
    if operation == "sum":
        return (
            f"Added {counted(cbf.height, 'row')} to what CloudZero held for {month} (operation sum).\n\n"
            f"CloudZero's cost for the month grew by {signed(diff.cost_after)}."
        )
    if operation == "replace_hourly":
        hours = cbf.get_column(USAGE_START).n_unique()
        return (
            f"Replaced {counted(hours, 'hour')} of {month} with {counted(cbf.height, 'row')} (operation "
            f"replace_hourly); CloudZero's other hours are unchanged.\n\nIn those hours: "
            + (
                f"cost {shown(diff.cost_before)} → {shown(diff.cost_after)} ({signed(diff.cost_delta)})."
                if before is not None
                else f"cost {shown(diff.cost_after)}."
            )
        )
    if before is None:
        return f"First submission of {month}: {counted(diff.added, 'row')}.\n\nCost {shown(diff.cost_after)}."
    return (
        f"{counted(diff.added, 'row')} added, {diff.removed:,} removed, {diff.changed:,} changed.\n\n"
        f"Cost {shown(diff.cost_before)} → {shown(diff.cost_after)} ({signed(diff.cost_delta)})."
    )


def submission_metadata(
    project: AnycostConfig, connection: str, month: str, cbf: pl.DataFrame, *, sent: bool = True
) -> dict[str, dg.MetadataValue]:
    """Cost by service, source files, and the change against the previous accepted submission
    (`sent`: whether this submission sent anything; a month CloudZero held unchanged is not)."""
    before = previous_drop(project, connection, month)
    operation = project.connections[connection].operation
    if before is not None and operation == "replace_hourly":
        # Only the hours sent are replaced: compare them with the same hours sent before.
        hours = cbf.get_column(USAGE_START).unique().to_list()
        before = before.filter(pl.col(USAGE_START).is_in(hours))
    diff = month_diff(before, cbf)
    summary = _summary(operation, month, cbf, before, diff, sent)
    return {
        CHANGE: dg.MetadataValue.md(summary),
        "rows_added": dg.MetadataValue.int(diff.added),
        "rows_removed": dg.MetadataValue.int(diff.removed),
        "rows_changed": dg.MetadataValue.int(diff.changed),
        "cost_delta": dg.MetadataValue.float(float(diff.cost_delta)),
        "cost_delta_exact": dg.MetadataValue.text(signed(diff.cost_delta)),
        "cost_delta_by_service": _delta_table(diff),
        COST_BY_SERVICE: cost_by(cbf, COST, SERVICE, "service"),
        FILES_USED: files_used(cbf),
    }
