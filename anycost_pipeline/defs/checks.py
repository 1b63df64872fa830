"""Reconciliation: does CloudZero still hold what the pipeline last sent for a month?"""

from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
from pydantic import Field

from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cloudzero.errors import CloudZeroError, NotFound
from anycost_pipeline.config import ConfigError, ConnectionConfig
from anycost_pipeline.defs.names import (
    DROP_IDS,
    MATCHES_CLOUDZERO,
    ROWS,
    TOTAL_COST_EXACT,
    drop_key,
)
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.months import Month

REPLAY_HINT = (
    " If the month was sent with exactly the content of an earlier submission, CloudZero may have "
    "answered from its idempotency memory without applying it; see the README's Troubleshooting."
)


class ReconcileConfig(dg.Config):
    """How deep the reconciliation looks."""

    compare_contents: bool = Field(
        default=False,
        description=(
            "Also download the month's rows from CloudZero and compare the cost total, not only "
            "the row count from the drop list (slower for large months)."
        ),
    )


@dataclass(frozen=True)
class LastSent:
    """The last accepted submission of a month, as its materialisation recorded it."""

    rows: int
    total: Decimal
    drop_id: str | None  # the receipt of its last body: CloudZero's latest drop for the month
    drop_ids: tuple[str, ...] = ()  # every body's receipt, in order


def _last_sent(instance: dg.DagsterInstance, key: dg.AssetKey, month: str) -> LastSent | None:
    """Rows, exact cost total and last drop id of the last accepted submission of the month."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    metadata = records[0].asset_materialization.metadata
    drop_ids = str(metadata[DROP_IDS].value).split(", ") if DROP_IDS in metadata else []
    return LastSent(
        int(metadata[ROWS].value),  # type: ignore[arg-type]
        Decimal(str(metadata[TOTAL_COST_EXACT].value)),
        drop_ids[-1] if drop_ids and drop_ids[-1] else None,
        tuple(d for d in drop_ids if d),
    )


def reconcile_check(
    connection: str, spec: ConnectionConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(drop_key(connection))

    @dg.asset_check(
        asset=key,
        name=MATCHES_CLOUDZERO,
        partitions_def=partitions,
        description=(
            "Guards against the bill drifting from what this pipeline sent: CloudZero's drop list "
            "must report as many rows for the month as the last submission held, and its latest "
            "drop must be that submission's (with `compare_contents`, the month's cost total must "
            "also match to the last digit). Fails with both figures when someone or something "
            "changed the month in CloudZero."
        ),
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        config: ReconcileConfig,
        cloudzero: CloudZeroResource,
    ) -> dg.AssetCheckResult:
        month = str(Month.parse(context.partition_key))
        sent = _last_sent(context.instance, key, month)
        try:
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
            with cloudzero.connection_client(connection_id) as client:
                listed = client.month_drops(connection_id, month, sent.drop_id if sent else None)
                held_rows = listed.rows_of(list(sent.drop_ids) if sent else [])
                held_drop = listed.ours.drop_id if listed.ours else None
                if sent and sent.drop_id and listed.newer_than(sent.drop_id):
                    held_drop = listed.entries[-1].drop_id
                held_total: Decimal | None = None
                if config.compare_contents:
                    try:
                        rows = client.get_billing_drop(connection_id, month)
                    except NotFound:
                        rows = []
                    held_total = Decimal(0)
                    for row in rows:  # exact: Python's default context rounds at 28 digits
                        held_total = EXACT.add(held_total, Decimal(row.get(COST) or 0))
        except (CloudZeroError, ConfigError) as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None

        sent_rows, sent_total = (sent.rows, sent.total) if sent else (0, Decimal(0))
        problems = []
        if held_rows != sent_rows:
            problems.append(
                f"CloudZero holds {held_rows:,} rows, the last submission sent {sent_rows:,}"
            )
        elif sent and sent.drop_id and held_drop and held_drop != sent.drop_id:
            # Same row count, but another drop came after ours (or ours was answered from
            # CloudZero's idempotency memory without being applied): the contents may differ.
            problems.append(
                f"CloudZero's latest drop for the month is {held_drop}, not {sent.drop_id} from the "
                "last submission, so the month was changed since"
            )
        if held_total is not None and held_total != sent_total:
            problems.append(
                f"CloudZero's cost total is {held_total}, the last submission sent {sent_total}"
            )
        if problems:
            verdict = (
                f"{month} on connection {connection} ({connection_id}): "
                + "; ".join(problems)
                + ". Rematerialise the month to send it again, or find out who changed it."
                + (
                    REPLAY_HINT
                    if held_rows == sent_rows and held_total in (None, sent_total)
                    else ""
                )
            )
        elif sent is None:
            verdict = f"{month} was never submitted and CloudZero holds no rows for it."
        else:
            verdict = f"{month}: CloudZero holds what was last sent ({sent_rows:,} rows)."
        metadata: dict[str, dg.MetadataValue] = {
            "verdict": dg.MetadataValue.text(verdict),
            "sent_rows": dg.MetadataValue.int(sent_rows),
            "cloudzero_rows": dg.MetadataValue.int(held_rows),
            "sent_total": dg.MetadataValue.text(str(sent_total)),
        }
        if held_total is not None:
            metadata["cloudzero_total"] = dg.MetadataValue.text(str(held_total))
        return dg.AssetCheckResult(passed=not problems, metadata=metadata, description=verdict)

    return _check
