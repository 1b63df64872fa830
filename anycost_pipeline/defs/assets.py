"""The three asset layers, built from anycost.yaml: raw/<source>, cbf/<source>, drop/<connection>."""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl

from anycost_pipeline import sources as readers
from anycost_pipeline.cbf.bodies import content_hash, month_bodies
from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW, BadSourceData, MappingError, raise_problems
from anycost_pipeline.cbf.mapping import HOUR, REASONS, convert, rows_of_month, source_cost, usage_hours
from anycost_pipeline.cbf.validation import cost_total, discount_gap, row_problems, source_rows_in
from anycost_pipeline.config import AnycostConfig, ConfigError, SourceConfig
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.defs.metadata import cost_by, cost_metadata, problems_table
from anycost_pipeline.defs.project import month_partitions, project_config
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.months import Month

ROWS_VALID = "rows_valid"
COST_CONSERVED = "cost_conserved"
DISCOUNTED_COST_MATCHES = "discounted_cost_matches"


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
        kinds={getattr(source, "format", None) or source.kind, "polars"},  # type: ignore[attr-defined]
        description=(
            f"Every record of source `{name}` whose time falls in the month (UTC), exactly as the "
            f"source states it; times read in `{source.timezone}`. {readers.describe(name, source)}"  # type: ignore[arg-type]
        ),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        month = Month.parse(context.partition_key)
        try:
            frame = readers.read_month(name, source, config, month)  # type: ignore[arg-type]
            frame, untimed = usage_hours(frame, name, source.time_column, source.timezone, source.time_format, source.ambiguous_time)
            if source.on_bad_rows == "strict":
                raise_problems(name, untimed)
        except (*readers.SourceReadError, BadSourceData) as error:
            raise _fail(error) from None
        if untimed.height:
            context.log.warning(f"{untimed.height:,} row(s) of {name} have no readable time and belong to no month; see `rows_without_a_time`")
        months = sorted({f"{h.year:04d}-{h.month:02d}" for h in frame.get_column(HOUR).drop_nulls().unique().to_list()})
        rows = rows_of_month(frame, month)
        origins = sorted(rows.get_column(SOURCE_FILE).unique().to_list())
        listed = "\n".join(f"- `{o if '://' in o and not o.startswith('file://') else Path(o).name}`" for o in origins[:50])
        # In the source's own currency: this layer shows the records as the files state them.
        try:
            mapping = config.mapping_of(name).model_copy(update={"currency": None})
        except ValueError as error:
            raise _fail(error) from None
        total, _ = source_cost(rows, mapping, month)
        return dg.Output(
            rows,
            metadata={
                "rows": len(rows),
                **cost_metadata(total),
                "month": str(month),
                "months_in_source": ", ".join(months),
                "files_used": dg.MetadataValue.md((listed or "_none_") + (f"\n- … {len(origins) - 50} more" if len(origins) > 50 else "")),
                **({"rows_without_a_time": untimed.height, "first_rows_without_a_time": problems_table(untimed)} if untimed.height else {}),
            },
        )

    return _raw


def cbf_asset(name: str, source: SourceConfig, config: AnycostConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = dg.AssetKey(["cbf", name])
    rejects_key = dg.AssetKey(["rejects", name])
    rejecting = source.on_bad_rows == "reject"
    stated = f"`{source.cost_column}`" if source.cost_column else "usage × rate card"
    if source.currency:
        stated += f" × the month's {source.currency.source}→{source.currency.target} rate"
    outs = {
        "cbf": dg.AssetOut(
            key=key, group_name=source.connection, kinds={"polars"},
            description=(
                f"The month of source `{name}` in CloudZero's Common Bill Format: UTC hours, exact "
                "decimal text. Nothing is sent for a month whose checks fail."
            ),
        )
    }
    if rejecting:
        outs["rejects"] = dg.AssetOut(
            key=rejects_key, group_name=source.connection, kinds={"polars"},
            description=(
                f"Rows of source `{name}` kept out of the month's CBF because of bad values "
                "(`on_bad_rows: reject`): each whole source row with its file, row number and "
                "reasons in `_reasons`. Fix the source and rematerialise the month to send them."
            ),
        )

    @dg.multi_asset(
        outs=outs,
        ins={"raw": dg.AssetIn(key=["raw", name])},
        partitions_def=partitions,
        name=f"cbf__{name}",
        can_subset=False,
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_VALID, asset=key, blocking=True,
                description="Every row follows CBF: required columns, UTC hours inside the month, plain decimals, known line item types, tag key rules, resource/id with tags, no unknown columns, the monthly row limit.",
            ),
            dg.AssetCheckSpec(
                COST_CONSERVED, asset=key, blocking=True,
                description=f"The CBF cost total (plus any rejected rows) equals the source's {stated} total for the month, to the last digit, and every source row is sent or rejected.",
            ),
            dg.AssetCheckSpec(
                DISCOUNTED_COST_MATCHES, asset=key, blocking=False,
                description="Warning only: the month's cost/cost and cost/discounted_cost totals match, as CloudZero expects.",
            ),
        ],
    )
    def _cbf(context: dg.AssetExecutionContext, raw: pl.DataFrame) -> Iterator[dg.Output | dg.AssetCheckResult]:
        month = Month.parse(context.partition_key)
        try:
            mapping = config.mapping_of(name)  # reads a rate card file, if the source has one
        except ValueError as error:
            raise _fail(error) from None
        try:
            done = convert(raw, name, mapping, month)
        except (BadSourceData, MappingError) as error:
            raise _fail(error) from None
        cbf, rejects = done.cbf, done.rejects
        problems = row_problems(cbf, month)
        source_total, unreadable = source_cost(raw, mapping, month)
        rejected_total, rejected_unreadable = source_cost(rejects, mapping, month)
        cbf_total = cost_total(cbf)
        sent_rows = source_rows_in(cbf)
        yield dg.Output(
            cbf,
            output_name="cbf",
            metadata={
                "rows": len(cbf),
                **cost_metadata(cbf_total),
                "month": str(month),
                "source_rows_sent": sent_rows,
                "rejected_rows": rejects.height,
                **{k: dg.MetadataValue.text(v) for k, v in done.notes.items()},
                "cost_by_line_item_type": cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
                "cost_by_service": cost_by(cbf, COST, "resource/service", "service"),
            },
        )
        if rejecting:
            yield dg.Output(
                rejects,
                output_name="rejects",
                metadata={
                    "rows": rejects.height,
                    "rejected_cost_exact": str(rejected_total),
                    "rows_without_readable_cost": rejected_unreadable,
                    "first_rejects": _rejects_table(rejects),
                },
            )
        yield dg.AssetCheckResult(
            check_name=ROWS_VALID, asset_key=key,
            passed=problems.is_empty(),
            metadata={"problems": len(problems), "first_problems": problems_table(problems)},
        )
        accounted = sent_rows + rejects.height == raw.height and unreadable == rejected_unreadable
        yield dg.AssetCheckResult(
            check_name=COST_CONSERVED, asset_key=key,
            passed=source_total == cbf_total + rejected_total and accounted,
            metadata={
                "source_total": str(source_total),
                "cbf_total": str(cbf_total),
                "rejected_total": str(rejected_total),
                "difference": str(cbf_total + rejected_total - source_total),
                "source_rows": raw.height,
                "source_rows_sent": sent_rows,
                "rejected_rows": rejects.height,
            },
        )
        gap = discount_gap(cbf)
        yield dg.AssetCheckResult(
            check_name=DISCOUNTED_COST_MATCHES, asset_key=key,
            passed=gap is None or gap[0] == gap[1],
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"cost_total": str(gap[0]), "discounted_cost_total": str(gap[1])} if gap else {"note": "no cost/discounted_cost column"},
        )

    return _cbf


def _rejects_table(rejects: pl.DataFrame, limit: int = 20) -> dg.MarkdownMetadataValue:
    lines = ["| file | row | reasons |", "|---|---:|---|"]
    for file, row, reasons in rejects.select(SOURCE_FILE, SOURCE_ROW, REASONS).head(limit).iter_rows():
        lines.append(f"| {Path(file).name} | {row} | {reasons} |")
    return dg.MetadataValue.md("\n".join(lines))


def drop_asset(connection: str, sources: list[str], config: AnycostConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    ins = {f"cbf_{name}": dg.AssetIn(key=["cbf", name]) for name in sources}
    spec = config.connections[connection]

    @dg.asset(
        key=["drop", connection],
        ins=ins,
        partitions_def=partitions,
        group_name=connection,
        pool=pool_name(connection),
        kinds={"cloudzero"},
        description=(
            f"The month as sent to CloudZero connection `{connection}` (sources: "
            f"{', '.join(sources)}), with CloudZero's receipt. Each submission replaces the whole month."
        ),
    )
    def _drop(context: dg.AssetExecutionContext, cloudzero: CloudZeroResource, **frames: pl.DataFrame) -> dg.Output[pl.DataFrame]:
        month = str(Month.parse(context.partition_key))
        try:
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
        except ConfigError as error:
            raise _fail(error) from None
        cbf = pl.concat([frames[f"cbf_{name}"] for name in sources], how="diagonal")
        bodies = month_bodies(cbf, month)
        try:
            with cloudzero.open_client() as client:
                receipt = client.submit_month(connection_id, month, [(b.operation, b.payload, b.rows) for b in bodies])
                held = {d["month"]: d for d in client.list_billing_drops(connection_id)}.get(month)
        except CloudZeroError as error:
            raise _fail(error) from None
        reported = int(held["row_count"]) if held else 0
        if reported != receipt.rows:
            raise dg.Failure(
                f"CloudZero reports {reported:,} rows for {month} on connection {connection}, "
                f"but {receipt.rows:,} were sent; rematerialise the month to send it again."
            )
        total: Decimal = cost_total(cbf)
        context.log.info(f"{month}: {receipt.rows:,} rows, cost {total}, sent to {cloudzero.where()}")
        return dg.Output(
            cbf,
            metadata={
                "rows": receipt.rows,
                **cost_metadata(total),
                "month": month,
                "connection_id": connection_id,
                "target": cloudzero.target,
                "sent_to": cloudzero.where(),
                "drop_ids": ", ".join(b.drop_id for b in receipt.bodies),
                "bodies": len(receipt.bodies),
                "bytes": receipt.bytes,
                "operations": ", ".join(b.operation for b in receipt.bodies),
                "content_hash": content_hash(bodies),
                "duration_seconds": round(receipt.seconds, 3),
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
        built += [raw_asset(name, source, config, partitions), cbf_asset(name, source, config, partitions)]
    for connection in config.connections:
        sources = sorted(config.sources_of(connection))
        if sources:
            built.append(drop_asset(connection, sources, config, partitions))
    return dg.Definitions(assets=built)
