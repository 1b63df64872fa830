"""drop/<connection>: a month as submitted to a CloudZero AnyCost Stream connection."""

import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import dagster as dg
import polars as pl

from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cloudzero.submit import (
    CLEARED_STATUS,
    KEPT_STATUS,
    NOTHING_SENT,
    SUPERSEDED,
    MonthOutcome,
)
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.changes import (
    Resumed,
    last_converted,
    last_submitted,
    submission_metadata,
)
from anycost_pipeline.defs.failures import user_errors
from anycost_pipeline.defs.metadata import cost_by, cost_metadata
from anycost_pipeline.defs.names import (
    BODIES,
    CHANGE,
    CLOUDZERO,
    COST_BY_LINE_ITEM_TYPE,
    DROP,
    DROP_IDS,
    FRAMES_IO_MANAGER,
    LATE_CHANGE,
    MONTH,
    NO_DOUBLE_COUNT,
    READER,
    READS,
    ROWS,
    ROWS_CLOUDZERO_REPORTS,
    SETTLED,
    STATUS,
    VERDICT,
    cbf_key,
    drop_key,
    scoped,
)
from anycost_pipeline.defs.pools import pool_name
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.delivery import MonthToSend, month_to_send
from anycost_pipeline.figures import shown
from anycost_pipeline.months import Month
from anycost_pipeline.overlap import Overlap, overlap_table

HOW = {
    "replace_drop": "Each submission replaces the whole month.",
    "replace_hourly": "Each submission replaces only the hours it holds (operation replace_hourly).",
    "sum": "Each submission is added to what CloudZero holds (operation sum).",
}


class DropConfig(dg.Config):
    """Run options of a drop/<connection> partition."""

    force: bool = False  # send even if CloudZero already holds exactly this month


def drop_asset(
    connection: str, sources: list[str], project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    spec = project.connections[connection]
    cloudzero_key = scoped(CLOUDZERO, project.scope)
    reads = {
        READER: "/".join(drop_key(connection)),
        READS: ["/".join(cbf_key(name)) for name in sources],
    }

    overlap = project.overlap_of(connection)

    @dg.asset(
        key=drop_key(connection),
        ins={f"cbf_{name}": dg.AssetIn(key=cbf_key(name), metadata=reads) for name in sources},
        io_manager_key=scoped(FRAMES_IO_MANAGER, project.scope),
        partitions_def=partitions,
        group_name=DROP,
        pool=pool_name(connection),
        # After every source of the run is read and converted: a drop judges what other
        # connections' sources left or still deliver (`gone_rows`) from their index and frames.
        op_tags={"dagster/priority": "-1"},
        kinds={"cloudzero"},
        required_resource_keys={cloudzero_key},
        description=(
            f"Step 3 of 3: the month as sent to CloudZero connection `{connection}` "
            + (
                f"(sources: {', '.join(sources)}). "
                if sources
                else "(no source sends to it now: the months its former sources held are "
                "cleared of their rows, except rows of export files that are gone). "
            )
            + f"{HOW[spec.operation]} A month CloudZero already holds unchanged "
            "is not sent again (run config `force: true` sends it anyway). The metadata holds "
            "CloudZero's receipt, the totals, and what changed against the previous submission of "
            "the month."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                NO_DOUBLE_COUNT,
                asset=drop_key(connection),
                partitions_def=partitions,
                description=(
                    "Is any of this month's cost also in another source or connection, or "
                    "invoiced by another party or a platform CloudZero ingests natively? "
                    f"(overlap.mode: {overlap.mode}"
                    + (
                        "; the month is not sent while it finds something)"
                        if overlap.mode == "fail"
                        else ")"
                    )
                ),
            )
        ]
        if overlap.mode != "off"
        else [],
    )
    def _drop(
        context: dg.AssetExecutionContext, config: DropConfig, **frames: pl.DataFrame
    ) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
        cloudzero: CloudZeroResource = getattr(context.resources, cloudzero_key)
        month = str(Month.parse(context.partition_key))
        with user_errors(NOTHING_SENT, project.declared_in):
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
            others = _other_connections(project, connection, month) if overlap.mode != "off" else {}
            sending = month_to_send(
                project,
                connection,
                _by_source(frames, sources),
                month,
                others,
                sent_to=partial(last_submitted, project, month=month),
                converted=partial(last_converted, project, month=month),
            )
            outcome = cloudzero.send_month(
                connection_id,
                month,
                sending.requests,
                sending.content_hash,
                force=config.force,
                submission_id=f"{context.run.run_id}-{uuid.uuid4().hex[:8]}",
                total=sending.total,
                evidence=sending.evidence,
                operation=spec.operation,
                reads=sending.reads,
                settled=sending.settled,
            )
        context.log.info(_outcome_line(month, sending, outcome, cloudzero))
        if outcome.state is not None and outcome.state.late:
            context.log.warning(outcome.state.reason)
        metadata = {
            **_receipt_metadata(month, connection_id, sending, outcome, cloudzero),
            **submission_metadata(
                project,
                connection,
                month,
                sending.cbf,
                sent=outcome.submission is not None,
                resumed=_resumed(outcome),
            ),
        }
        if outcome.state is not None and (
            sending.empty or outcome.status in (KEPT_STATUS, SUPERSEDED)
        ):
            # Cleared, kept, superseded, or nothing to send: the verdict says what CloudZero
            # held and why.
            reason = outcome.state.reason
            metadata[CHANGE] = dg.MetadataValue.md(
                f"{month}: {outcome.status}.\n\n{reason[:1].upper()}{reason[1:]}."
            )
        elif outcome.submission is not None:
            # Compared with this adaptor's last submission, the change would hide what the
            # send overwrote at CloudZero, and which of its rows are not the sources' now.
            said = [outcome.state.overwrites] if outcome.state and outcome.state.overwrites else []
            said += [sending.evidence.carried] if sending.evidence.carried else []
            if said:
                change = metadata[CHANGE].value
                first = "\n\n".join(f"{s[:1].upper()}{s[1:]}." for s in said)
                metadata[CHANGE] = dg.MetadataValue.md(f"{first}\n\n{change}")
        if outcome.status in (KEPT_STATUS, SUPERSEDED):
            # The stored month stays the one CloudZero was last sent, not what was left alone.
            yield dg.Output(last_submitted(project, connection, month), metadata=metadata)
        else:
            yield dg.Output(sending.cbf, metadata=metadata)
        if overlap.mode != "off":
            yield _overlap_result(connection, month, sending.overlaps)

    return _drop


def _other_connections(
    project: AnycostConfig, connection: str, month: str
) -> dict[str, pl.DataFrame]:
    """The month as last submitted to each other connection of the project, for the overlap
    check (a connection that never sent it has nothing to overlap)."""
    held = {
        f"connection {other}": last_submitted(project, other, month)
        for other in project.connections
        if other != connection
    }
    return {label: frame for label, frame in held.items() if frame.height}


def _overlap_result(connection: str, month: str, found: list[Overlap]) -> dg.AssetCheckResult:
    if not found:
        return dg.AssetCheckResult(
            check_name=NO_DOUBLE_COUNT,
            passed=True,
            description=f"{month}: no cost of connection {connection} was found anywhere else.",
        )
    return dg.AssetCheckResult(
        check_name=NO_DOUBLE_COUNT,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{month}: {len(found):,} possible double count(s); they did not hold the month back "
            f"(overlap.mode: warn). First: {found[0].line}. Remove the cost from one place, or "
            "list the pair under `overlap.allow` in anycost.yaml once you know it is not counted "
            "twice; `anycost overlaps MONTH` lists them all."
        ),
        metadata={"overlaps": dg.MetadataValue.md(overlap_table(found)), "count": len(found)},
    )


def _resumed(outcome: MonthOutcome) -> Resumed | None:
    """The part of a continued submission that this run sent (None: it sent it all)."""
    receipt = outcome.submission
    if receipt is None or not outcome.resumed_from:
        return None
    now = sum(b.rows for b in receipt.bodies[outcome.resumed_from :])
    return Resumed(outcome.resumed_from, len(receipt.bodies), now)


def _by_source(frames: dict[str, pl.DataFrame], sources: list[str]) -> dict[str, pl.DataFrame]:
    """The inputs `cbf_<source>` by source name, in the order the month combines them."""
    return {name: frames[f"cbf_{name}"] for name in sources}


def _outcome_line(
    month: str, sending: MonthToSend, outcome: MonthOutcome, cloudzero: CloudZeroResource
) -> str:
    if outcome.state is not None and outcome.status in (CLEARED_STATUS, KEPT_STATUS, SUPERSEDED):
        return f"{month}: {outcome.status}: {outcome.state.reason}"
    if outcome.submission is None:
        if sending.empty:
            return f"{month}: nothing to send: {outcome.state.reason if outcome.state else ''}"
        sent_at = (outcome.previous or {}).get("sent_at")
        return f"{month}: unchanged since {sent_at}; nothing sent to {cloudzero.where()}"
    return (
        f"{month}: {outcome.rows:,} rows, cost {shown(sending.total)}, sent to {cloudzero.where()}"
    )


def _delivered(outcome: MonthOutcome) -> dict[str, Any]:
    """What was sent now: the receipt's drop ids and bodies, or what was left unchanged."""
    receipt = outcome.submission
    reason = {VERDICT: outcome.state.reason} if outcome.state else {}
    if receipt is None:
        previous = outcome.previous or {}
        return {
            STATUS: outcome.status,
            **reason,
            DROP_IDS: ", ".join(previous.get("drop_ids", [])),
            BODIES: 0,
            "bytes": 0,
            "operations": "none (unchanged)",
            "last_sent_at": str(previous.get("sent_at")),
            "duration_seconds": 0.0,
        }
    continued = (
        {
            "continued": f"{outcome.resumed_from} of {len(receipt.bodies)} bodies were acknowledged "
            "in an interrupted earlier run and were not sent again"
        }
        if outcome.resumed_from
        else {}
    )
    return {
        STATUS: outcome.status,
        **reason,
        **continued,
        DROP_IDS: ", ".join(b.drop_id for b in receipt.bodies),
        BODIES: len(receipt.bodies),
        "bytes": receipt.bytes,
        "operations": ", ".join(b.operation for b in receipt.bodies),
        "duration_seconds": round(receipt.seconds, 3),
    }


def _settled_metadata(sending: MonthToSend, outcome: MonthOutcome) -> dict[str, Any]:
    """The month's label (final or estimated, why) and, when a final month changed late and
    was sent again, what the verdict said of it."""
    metadata: dict[str, Any] = {}
    if sending.settled is not None:
        metadata[SETTLED] = str(sending.settled)
    if outcome.state is not None and outcome.state.late:
        metadata[LATE_CHANGE] = outcome.state.reason
    return metadata


def _receipt_metadata(
    month: str,
    connection_id: str,
    sending: MonthToSend,
    outcome: MonthOutcome,
    cloudzero: CloudZeroResource,
) -> dict[str, Any]:
    return {
        ROWS: outcome.rows,
        **cost_metadata(sending.total),
        MONTH: month,
        "connection_id": connection_id,
        "target": cloudzero.target,
        "sent_to": cloudzero.where(),
        **_delivered(outcome),
        ROWS_CLOUDZERO_REPORTS: outcome.reported_rows,
        **_settled_metadata(sending, outcome),
        "month_bytes": outcome.bytes,
        "content_hash": sending.content_hash,
        COST_BY_LINE_ITEM_TYPE: cost_by(sending.cbf, COST, LINE_ITEM_TYPE, "line item type"),
    }
