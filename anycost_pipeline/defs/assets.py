"""The three asset layers, built from anycost.yaml: raw/<source>, cbf/<source>, drop/<connection>."""

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl

from anycost_pipeline.cbf.bodies import content_hash, month_bodies
from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.errors import SOURCE_FILE, BadSourceData
from anycost_pipeline.cbf.mapping import HOUR, rows_of_month, to_cbf, with_usage_hour
from anycost_pipeline.cbf.validation import cost_total, row_problems
from anycost_pipeline.config import AnycostConfig, ConfigError, SourceConfig
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.cloudzero.submit import send_month
from anycost_pipeline.defs.metadata import cost_by, cost_metadata, problems_table
from anycost_pipeline.defs.project import month_partitions, project_config
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.files import SourceFilesError, read_csv_files

ROWS_VALID = "rows_valid"
COST_CONSERVED = "cost_conserved"


def pool_name(connection: str) -> str:
    """The Dagster pool that keeps one request at a time on a connection."""
    return f"cloudzero_{connection}"


def _fail(error: Exception) -> dg.Failure:
    # Bad data and bad answers are the user's to fix: show the message, not a traceback.
    return dg.Failure(description=str(error), allow_retries=False)


def raw_asset(name: str, source: SourceConfig, config: AnycostConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", name],
        partitions_def=partitions,
        group_name=source.connection,
        kinds={"csv", "polars"},
        description=(
            f"Every record of source `{name}` whose time falls in the month (UTC), exactly as the "
            f"export files state it. Files: `{source.path}`; times read in `{source.timezone}`."
        ),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        month = Month.parse(context.partition_key)
        try:
            frame = read_csv_files(name, config.resolve_path(source.path))
            frame = with_usage_hour(frame, name, source.time_column, source.timezone, source.time_format)
        except (SourceFilesError, BadSourceData) as error:
            raise _fail(error) from None
        months = sorted({f"{h.year:04d}-{h.month:02d}" for h in frame.get_column(HOUR).unique().to_list()})
        rows = rows_of_month(frame, month)
        cost_column = source.columns[COST].column  # type: ignore[union-attr]
        files = sorted(rows.get_column(SOURCE_FILE).unique().to_list())
        return dg.Output(
            rows,
            metadata={
                "rows": len(rows),
                **cost_metadata(cost_total(rows, cost_column)),
                "month": str(month),
                "months_in_source": ", ".join(months),
                "files_used": dg.MetadataValue.md("\n".join(f"- `{Path(f).name}`" for f in files) or "_none_"),
            },
        )

    return _raw


def cbf_asset(name: str, source: SourceConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = dg.AssetKey(["cbf", name])
    cost_column = source.columns[COST].column  # type: ignore[union-attr]

    @dg.asset(
        key=key,
        ins={"raw": dg.AssetIn(key=["raw", name])},
        partitions_def=partitions,
        group_name=source.connection,
        kinds={"polars"},
        description=(
            f"The month of source `{name}` in CloudZero's Common Bill Format: one row per source "
            "row, UTC hours, exact decimal text. Nothing is sent for a month whose checks fail."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_VALID, asset=key, blocking=True,
                description="Every row follows CBF: required columns, UTC hours inside the month, plain decimals, known line item types, tag rules.",
            ),
            dg.AssetCheckSpec(
                COST_CONSERVED, asset=key, blocking=True,
                description=f"The CBF cost total equals the source's `{cost_column}` total for the month, to the last digit.",
            ),
        ],
    )
    def _cbf(context: dg.AssetExecutionContext, raw: pl.DataFrame) -> Iterator[dg.Output | dg.AssetCheckResult]:
        month = Month.parse(context.partition_key)
        try:
            cbf = to_cbf(raw, name, source.columns)
        except BadSourceData as error:
            raise _fail(error) from None
        problems = row_problems(cbf, month)
        source_total, cbf_total = cost_total(raw, cost_column), cost_total(cbf)
        yield dg.Output(
            cbf,
            metadata={
                "rows": len(cbf),
                **cost_metadata(cbf_total),
                "month": str(month),
                "cost_by_line_item_type": cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
                "cost_by_service": cost_by(cbf, COST, "resource/service", "service"),
            },
        )
        yield dg.AssetCheckResult(
            check_name=ROWS_VALID,
            passed=problems.is_empty(),
            metadata={"problems": len(problems), "first_problems": problems_table(problems)},
        )
        yield dg.AssetCheckResult(
            check_name=COST_CONSERVED,
            passed=source_total == cbf_total,
            metadata={"source_total": str(source_total), "cbf_total": str(cbf_total), "difference": str(cbf_total - source_total)},
        )

    return _cbf


class DropConfig(dg.Config):
    """Run options of a drop/<connection> partition."""

    force: bool = False  # send even if CloudZero already holds exactly this month


def drop_asset(connection: str, sources: list[str], config: AnycostConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    ins = {f"cbf_{name}": dg.AssetIn(key=["cbf", name]) for name in sources}
    spec = config.connections[connection]
    target_bytes = config.cloudzero.limits.body_bytes
    how = {
        "replace_drop": "Each submission replaces the whole month.",
        "replace_hourly": "Each submission replaces only the hours it holds (operation replace_hourly).",
        "sum": "Each submission is added to what CloudZero holds (operation sum).",
    }[spec.operation]

    @dg.asset(
        key=["drop", connection],
        ins=ins,
        partitions_def=partitions,
        group_name=connection,
        pool=pool_name(connection),
        kinds={"cloudzero"},
        description=(
            f"The month as sent to CloudZero connection `{connection}` (sources: "
            f"{', '.join(sources)}), with CloudZero's receipt. {how} A month CloudZero already "
            "holds unchanged is not sent again (run config `force: true` sends it anyway)."
        ),
    )
    def _drop(context: dg.AssetExecutionContext, config: DropConfig, cloudzero: CloudZeroResource, **frames: pl.DataFrame) -> dg.Output[pl.DataFrame]:
        month = str(Month.parse(context.partition_key))
        try:
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
        except ConfigError as error:
            raise _fail(error) from None
        cbf = pl.concat([frames[f"cbf_{name}"] for name in sources], how="diagonal")
        bodies = month_bodies(cbf, month, operation=spec.operation, target_bytes=target_bytes)
        digest = content_hash(bodies)
        try:
            with cloudzero.open_client() as client:
                outcome = send_month(
                    client, connection_id, month,
                    [(b.operation, b.payload, b.rows) for b in bodies], digest,
                    lock_folder=cloudzero.lock_folder, ledger=cloudzero.ledger(),
                    destination=cloudzero.destination(), limits=cloudzero.limits(),
                    force=config.force, submission_id=f"{context.run.run_id}-{uuid.uuid4().hex[:8]}",
                )
        except CloudZeroError as error:
            raise _fail(error) from None
        total: Decimal = cost_total(cbf)
        receipt = outcome.submission
        if receipt is None:
            previous = outcome.previous or {}
            context.log.info(f"{month}: unchanged since {previous.get('sent_at')}; nothing sent to {cloudzero.where()}")
            sent = {
                "status": "unchanged",
                "drop_ids": ", ".join(previous.get("drop_ids", [])),
                "bodies": 0,
                "bytes": 0,
                "operations": "none (unchanged)",
                "last_sent_at": str(previous.get("sent_at")),
                "duration_seconds": 0.0,
            }
        else:
            context.log.info(f"{month}: {outcome.rows:,} rows, cost {total}, sent to {cloudzero.where()}")
            sent = {
                "status": "sent",
                "drop_ids": ", ".join(b.drop_id for b in receipt.bodies),
                "bodies": len(receipt.bodies),
                "bytes": receipt.bytes,
                "operations": ", ".join(b.operation for b in receipt.bodies),
                "duration_seconds": round(receipt.seconds, 3),
            }
        return dg.Output(
            cbf,
            metadata={
                "rows": outcome.rows,
                **cost_metadata(total),
                "month": month,
                "connection_id": connection_id,
                "target": cloudzero.target,
                "sent_to": cloudzero.where(),
                **sent,
                "rows_cloudzero_reports": outcome.reported_rows,
                "month_bytes": outcome.bytes,
                "content_hash": digest,
                "cost_by_line_item_type": cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
            },
        )

    return _drop


@dg.definitions
def assets() -> dg.Definitions:
    config = project_config()
    partitions = month_partitions(config)
    built: list[dg.AssetsDefinition] = []
    for name, source in config.sources.items():
        built += [raw_asset(name, source, config, partitions), cbf_asset(name, source, partitions)]
    for connection in config.connections:
        sources = sorted(config.sources_of(connection))
        if sources:
            built.append(drop_asset(connection, sources, config, partitions))
    return dg.Definitions(assets=built)
