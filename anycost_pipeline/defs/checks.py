"""The reconcile check on drop/<connection>: does CloudZero still hold what was last sent?

It queries CloudZero without sending anything. It runs after each submission (the jobs that
materialise drop/<connection> select it), and on its own at any later time (job
`reconcile_month`, or `anycost reconcile`), to notice a month changed behind the pipeline's back.
"""

from decimal import Decimal

import dagster as dg
from pydantic import Field

from anycost_pipeline.cloudzero.submit import KEPT_STATUS, SUPERSEDED
from anycost_pipeline.config import ConnectionConfig
from anycost_pipeline.defs.failures import user_errors
from anycost_pipeline.defs.names import (
    CLOUDZERO,
    DROP_IDS,
    MATCHES_CLOUDZERO,
    ROWS,
    ROWS_CLOUDZERO_REPORTS,
    STATUS,
    TOTAL_COST_EXACT,
    drop_key,
    scoped,
)
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.months import Month
from anycost_pipeline.reconcile import LastSent, Reconciliation, read_held, reconcile


class ReconcileConfig(dg.Config):
    """How deep the reconciliation looks."""

    compare_contents: bool = Field(
        default=False,
        description=(
            "Also download the month's rows from CloudZero and compare the cost total, not only "
            "the row count from the drop list (slower for large months)."
        ),
    )


def last_sent(instance: dg.DagsterInstance, key: dg.AssetKey, month: str) -> LastSent | None:
    """Rows, exact cost total and drop ids of the last accepted submission of the month (a
    month kept because its files are gone, or left alone because a later read was sent, still
    holds the submission before it)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=KEPT_RUNS
    ).records
    materialised = [r.asset_materialization for r in records if r.asset_materialization]
    submitted = [m for m in materialised if _status(m) not in (KEPT_STATUS, SUPERSEDED)]
    if not submitted:
        return None
    metadata = submitted[0].metadata
    drop_ids = str(metadata[DROP_IDS].value).split(", ") if DROP_IDS in metadata else []
    reported = metadata.get(ROWS_CLOUDZERO_REPORTS)
    return LastSent(
        int(metadata[ROWS].value),  # type: ignore[arg-type]
        Decimal(str(metadata[TOTAL_COST_EXACT].value)),
        drop_ids[-1] if drop_ids and drop_ids[-1] else None,
        tuple(d for d in drop_ids if d),
        int(reported.value) if reported is not None and reported.value is not None else None,  # type: ignore[arg-type]
    )


KEPT_RUNS = 50  # how far back the last submission is looked for behind runs that kept the month


def _status(materialization: dg.AssetMaterialization) -> str | None:
    status = materialization.metadata.get(STATUS)
    return str(status.value) if status is not None else None


def reconcile_check(
    connection: str, spec: ConnectionConfig, partitions: dg.PartitionsDefinition, scope: str = ""
) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(drop_key(connection))
    cloudzero_key = scoped(CLOUDZERO, scope)

    @dg.asset_check(
        asset=key,
        name=MATCHES_CLOUDZERO,
        partitions_def=partitions,
        required_resource_keys={cloudzero_key},
        description=(
            "Guards against the bill drifting from what this pipeline sent: CloudZero's drop list "
            "must report as many rows for the month as the last submission held, and its latest "
            "drop must be that submission's (with `compare_contents`, the month's cost total must "
            "also match to the last digit). Fails with both figures when someone or something "
            "changed the month in CloudZero."
        ),
    )
    def _check(
        context: dg.AssetCheckExecutionContext, config: ReconcileConfig
    ) -> dg.AssetCheckResult:
        cloudzero: CloudZeroResource = getattr(context.resources, cloudzero_key)
        month = str(Month.parse(context.partition_key))
        sent = last_sent(context.instance, key, month)
        with user_errors():
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
            with cloudzero.connection_client(connection_id) as client:
                held = read_held(client, connection_id, month, sent, config.compare_contents)
        verdict = reconcile(month, connection, connection_id, sent, held, spec.operation)
        return reconciliation_result(verdict)

    return _check


def reconciliation_result(verdict: Reconciliation) -> dg.AssetCheckResult:
    metadata: dict[str, dg.MetadataValue] = {
        "verdict": dg.MetadataValue.text(verdict.verdict),
        "sent_rows": dg.MetadataValue.int(verdict.sent_rows),
        "cloudzero_rows": dg.MetadataValue.int(verdict.held.rows),
        "sent_total": dg.MetadataValue.text(str(verdict.sent_total)),
    }
    if verdict.held.total is not None:
        metadata["cloudzero_total"] = dg.MetadataValue.text(str(verdict.held.total))
    return dg.AssetCheckResult(
        passed=verdict.passed, metadata=metadata, description=verdict.verdict
    )
