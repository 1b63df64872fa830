"""What a submission changes: metadata comparing a month with its previous accepted submission."""

from dataclasses import dataclass

import dagster as dg
import polars as pl
from upath import UPath

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.diff import MonthDiff, month_diff
from anycost_pipeline.cbf.validation import cost_total
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.io_manager import frames_folder
from anycost_pipeline.defs.metadata import SERVICE, cost_by, files_used
from anycost_pipeline.defs.names import CHANGE, COST_BY_SERVICE, FILES_USED, cbf_key, drop_key
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


def last_converted(project: AnycostConfig, source: str, month: str) -> pl.DataFrame:
    """A source's month as last converted to CBF (empty when it never was)."""
    path = frames_folder(project).joinpath(*cbf_key(source), f"{month}.parquet")
    if not path.is_file():
        return pl.DataFrame()
    with path.open("rb") as handle:
        return pl.read_parquet(handle)


def last_submitted(project: AnycostConfig, connection: str, month: str) -> pl.DataFrame:
    """The month as last submitted, with its lineage (empty when it was never submitted)."""
    path = stored_drop_path(project, connection, month)
    if not path.is_file():
        return pl.DataFrame()
    with path.open("rb") as handle:
        return pl.read_parquet(handle)


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


@dataclass(frozen=True)
class Resumed:
    """A submission continued after an interruption: what the earlier run's bodies held."""

    bodies: int  # acknowledged to the earlier run, not sent again
    planned: int  # bodies of the whole submission
    rows_now: int  # rows of the bodies this run sent


def submission_metadata(
    project: AnycostConfig,
    connection: str,
    month: str,
    cbf: pl.DataFrame,
    *,
    sent: bool = True,
    resumed: Resumed | None = None,
) -> dict[str, dg.MetadataValue]:
    """Cost by service, source files, and the change against the previous accepted submission
    (`sent`: whether this submission sent anything; a month CloudZero held unchanged is not).
    On a sum connection the change is what CloudZero gained in this run: the month's rows
    (or, continuing an interrupted submission, the rows of the bodies this run sent)."""
    operation = project.connections[connection].operation
    if operation == "sum" and sent:
        return {**_sum_change(month, cbf, resumed), **_month_tables(cbf)}
    before = previous_drop(project, connection, month)
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
        **_month_tables(cbf),
    }


def _month_tables(cbf: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    return {COST_BY_SERVICE: cost_by(cbf, COST, SERVICE, "service"), FILES_USED: files_used(cbf)}


def _sum_change(
    month: str, cbf: pl.DataFrame, resumed: Resumed | None
) -> dict[str, dg.MetadataValue]:
    """What a sum submission added to CloudZero's month in this run, in words and figures."""
    if resumed is None:
        gained = month_diff(None, cbf)  # every row of the month is added
        return {
            CHANGE: dg.MetadataValue.md(_summary("sum", month, cbf, None, gained, True)),
            "rows_added": dg.MetadataValue.int(cbf.height),
            "rows_removed": dg.MetadataValue.int(0),
            "rows_changed": dg.MetadataValue.int(0),
            "cost_delta": dg.MetadataValue.float(float(gained.cost_after)),
            "cost_delta_exact": dg.MetadataValue.text(signed(gained.cost_after)),
            "cost_delta_by_service": _delta_table(gained),
        }
    # The bodies the earlier run added are not told apart by cost here: rows only.
    earlier = cbf.height - resumed.rows_now
    return {
        CHANGE: dg.MetadataValue.md(
            f"Added the remaining {counted(resumed.rows_now, 'row')} (bodies "
            f"{resumed.bodies + 1} to {resumed.planned}) to what CloudZero held for {month} "
            f"(operation sum).\n\nThe first {counted(resumed.bodies, 'body')} "
            f"({counted(earlier, 'row')}) were added by an interrupted earlier run; the "
            f"submission's cost in all is {shown(cost_total(cbf))}."
        ),
        "rows_added": dg.MetadataValue.int(resumed.rows_now),
        "rows_removed": dg.MetadataValue.int(0),
        "rows_changed": dg.MetadataValue.int(0),
    }
