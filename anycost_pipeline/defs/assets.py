"""The three asset layers, built from anycost.yaml: raw/<source>, cbf/<source>, drop/<connection>."""

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl

from anycost_pipeline import sources as readers
from anycost_pipeline.cbf.bodies import content_hash
from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.errors import (
    SOURCE_FILE,
    SOURCE_ROW,
    BadSourceData,
    MappingError,
    raise_problems,
)
from anycost_pipeline.cbf.mapping import (
    REASONS,
    convert,
    months_of,
    rows_of_month,
    source_cost,
    usage_hours,
)
from anycost_pipeline.cbf.validation import (
    MONTH_WIDE,
    cost_total,
    discount_gap,
    row_problems,
    source_rows_in,
)
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.cloudzero.submit import NOTHING_SENT, DeliveryFailed, send_month
from anycost_pipeline.config import AnycostConfig, ConfigError, SourceConfig
from anycost_pipeline.defs.breakdown import source_breakdown
from anycost_pipeline.defs.changes import files_used, submission_metadata
from anycost_pipeline.defs.metadata import cost_by, cost_metadata, problems_table
from anycost_pipeline.defs.names import (
    BODIES,
    CBF_OUTPUT,
    COST_BY_LINE_ITEM_TYPE,
    COST_BY_SERVICE,
    COST_CONSERVED,
    DELIVERY,
    DISCOUNTED_COST_MATCHES,
    DROP_IDS,
    FILES_USED,
    MONTH,
    REJECTS_OUTPUT,
    ROWS,
    ROWS_VALID,
    STATUS,
    cbf_key,
    cbf_op,
    drop_key,
    raw_key,
    rejects_key,
)
from anycost_pipeline.defs.pools import pool_name
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.delivery import connection_bodies
from anycost_pipeline.months import Month


def _fail(error: Exception, delivery: str | None = None) -> dg.Failure:
    # Bad data and bad answers are the user's to fix: show the message, not a traceback.
    metadata = {DELIVERY: delivery} if delivery else None
    return dg.Failure(description=str(error), allow_retries=False, metadata=metadata)


def raw_asset(
    name: str, source: SourceConfig, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(name),
        partitions_def=partitions,
        group_name=source.connection,
        kinds={getattr(source, "format", None) or source.kind, "polars"},  # type: ignore[attr-defined]
        description=(
            f"Step 1 of 3 for source `{name}`: every record whose time falls in this month (UTC; "
            f"times without an offset are read as `{source.timezone}`), exactly as the source states "
            f"it. {readers.describe(name, source)} Nothing is sent from here. A value that cannot be "  # type: ignore[arg-type]
            "read stops the month here, naming the file, row and column."
        ),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        month = Month.parse(context.partition_key)
        try:
            frame = readers.read_month(name, source, project, month)  # type: ignore[arg-type]
            frame, untimed = usage_hours(
                frame,
                name,
                source.time_column,
                source.timezone,
                source.time_format,
                source.ambiguous_time,
            )
            if source.on_bad_rows == "strict":
                raise_problems(name, untimed)
        except (*readers.SourceReadError, BadSourceData) as error:
            raise _fail(error) from None
        if untimed.height:
            context.log.warning(
                f"{untimed.height:,} row(s) of {name} have no readable time and belong to no month; see `rows_without_a_time`"
            )
        months = months_of(frame)
        rows = rows_of_month(frame, month)
        origins = sorted(rows.get_column(SOURCE_FILE).unique().to_list())
        listed = "\n".join(
            f"- `{o if '://' in o and not o.startswith('file://') else Path(o).name}`"
            for o in origins[:50]
        )
        # In the source's own currency: this layer shows the records as the files state them.
        try:
            mapping = project.mapping_of(name).model_copy(update={"currency": None})
        except ValueError as error:
            raise _fail(error) from None
        total, _ = source_cost(rows, mapping, month)
        return dg.Output(
            rows,
            metadata={
                ROWS: len(rows),
                **cost_metadata(total),
                MONTH: str(month),
                "months_in_source": ", ".join(months),
                FILES_USED: dg.MetadataValue.md(
                    (listed or "_none_")
                    + (f"\n- … {len(origins) - 50} more" if len(origins) > 50 else "")
                ),
                **(
                    {
                        "rows_without_a_time": untimed.height,
                        "first_rows_without_a_time": problems_table(untimed),
                    }
                    if untimed.height
                    else {}
                ),
                **source_breakdown(rows, source),
            },
        )

    return _raw


def cbf_asset(
    name: str, source: SourceConfig, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey(cbf_key(name))
    rejecting = source.on_bad_rows == "reject"
    stated = f"`{source.cost_column}`" if source.cost_column else "usage × rate card"
    if source.currency:
        stated += f" × the month's {source.currency.source}→{source.currency.target} rate"
    outs = {
        CBF_OUTPUT: dg.AssetOut(
            key=key,
            group_name=source.connection,
            kinds={"polars"},
            description=(
                f"Step 2 of 3 for source `{name}`: the month in CloudZero's Common Bill Format (CBF), "
                "times as UTC hours, costs as exact decimal text. Blocking checks guard it: when "
                "one fails, nothing is sent to CloudZero for the month."
            ),
        )
    }
    if rejecting:
        outs[REJECTS_OUTPUT] = dg.AssetOut(
            key=rejects_key(name),
            group_name=source.connection,
            kinds={"polars"},
            description=(
                f"Rows of source `{name}` kept out of the month's CBF because of bad values "
                "(`on_bad_rows: reject`): each whole source row with its file, row number and "
                "reasons in `_reasons`. Fix the source and rematerialise the month to send them."
            ),
        )

    @dg.multi_asset(
        outs=outs,
        ins={"raw": dg.AssetIn(key=raw_key(name))},
        partitions_def=partitions,
        name=cbf_op(name),
        can_subset=False,
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_VALID,
                asset=key,
                blocking=True,
                description=(
                    "Guards CloudZero against rows it would refuse or misread: every row has the "
                    "required columns, a UTC hour inside the month, plain decimal costs, a known "
                    "line item type, valid tag keys, a resource/id where there are tags, no unknown "
                    "columns, and the month stays under the row limit. On failure nothing is sent; "
                    "the metadata lists the first offending rows with their file and row number."
                ),
            ),
            dg.AssetCheckSpec(
                COST_CONSERVED,
                asset=key,
                blocking=True,
                description=(
                    "Guards the bill against lost or invented money: the CBF cost total (plus any "
                    f"rejected rows) equals the source's {stated} total for the month, to the last "
                    "digit, and every source row is sent or rejected. On failure nothing is sent; "
                    "the metadata shows both totals and the difference."
                ),
            ),
            dg.AssetCheckSpec(
                DISCOUNTED_COST_MATCHES,
                asset=key,
                blocking=False,
                description="Warning only: the month's cost/cost and cost/discounted_cost totals match, as CloudZero expects.",
            ),
        ],
    )
    def _cbf(
        context: dg.AssetExecutionContext, raw: pl.DataFrame
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        month = Month.parse(context.partition_key)
        limit = project.cloudzero.limits.rows_per_month
        try:
            mapping = project.mapping_of(name)  # reads a rate card file, if the source has one
        except ValueError as error:
            raise _fail(error) from None
        try:
            done = convert(raw, name, mapping, month, limit)
        except (BadSourceData, MappingError) as error:
            raise _fail(error) from None
        cbf, rejects = done.cbf, done.rejects
        problems = row_problems(cbf, month, limit)
        source_total, unreadable = source_cost(raw, mapping, month)
        rejected_total, rejected_unreadable = source_cost(rejects, mapping, month)
        cbf_total = cost_total(cbf)
        sent_rows = source_rows_in(cbf)
        yield dg.Output(
            cbf,
            output_name=CBF_OUTPUT,
            metadata={
                ROWS: len(cbf),
                **cost_metadata(cbf_total),
                MONTH: str(month),
                "source_rows_sent": sent_rows,
                "rejected_rows": rejects.height,
                **{k: dg.MetadataValue.text(v) for k, v in done.notes.items()},
                COST_BY_LINE_ITEM_TYPE: cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
                COST_BY_SERVICE: cost_by(cbf, COST, "resource/service", "service"),
                FILES_USED: files_used(cbf),
            },
        )
        if rejecting:
            yield dg.Output(
                rejects,
                output_name=REJECTS_OUTPUT,
                metadata={
                    ROWS: rejects.height,
                    "rejected_cost_exact": str(rejected_total),
                    "rows_without_readable_cost": rejected_unreadable,
                    "first_rejects": _rejects_table(rejects),
                },
            )
        yield dg.AssetCheckResult(
            check_name=ROWS_VALID,
            asset_key=key,
            passed=problems.is_empty(),
            description=_rows_valid_summary(problems),
            metadata={"problems": len(problems), "first_problems": problems_table(problems)},
        )
        accounted = sent_rows + rejects.height == raw.height and unreadable == rejected_unreadable
        # Python's default decimal context rounds at 28 digits; money here may be longer.
        sent_and_rejected = EXACT.add(cbf_total, rejected_total)
        yield dg.AssetCheckResult(
            check_name=COST_CONSERVED,
            asset_key=key,
            passed=source_total == sent_and_rejected and accounted,
            metadata={
                "source_total": str(source_total),
                "cbf_total": str(cbf_total),
                "rejected_total": str(rejected_total),
                "difference": str(EXACT.subtract(sent_and_rejected, source_total)),
                "source_rows": raw.height,
                "source_rows_sent": sent_rows,
                "rejected_rows": rejects.height,
            },
        )
        gap = discount_gap(cbf, cbf_total)
        yield dg.AssetCheckResult(
            check_name=DISCOUNTED_COST_MATCHES,
            asset_key=key,
            passed=gap is None or gap[0] == gap[1],
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"cost_total": str(gap[0]), "discounted_cost_total": str(gap[1])}
            if gap
            else {"note": "no cost/discounted_cost column"},
        )

    return _cbf


def _rejects_table(rejects: pl.DataFrame, limit: int = 20) -> dg.MarkdownMetadataValue:
    lines = ["| file | row | reasons |", "|---|---:|---|"]
    for file, row, reasons in (
        rejects.select(SOURCE_FILE, SOURCE_ROW, REASONS).head(limit).iter_rows()
    ):
        lines.append(f"| {Path(file).name} | {row} | {reasons} |")
    return dg.MetadataValue.md("\n".join(lines))


def _rows_valid_summary(problems: pl.DataFrame) -> str | None:
    """One line on a failed rows_valid check, for the run log and `anycost run`."""
    if problems.is_empty():
        return None
    too_many = problems.filter(pl.col("column") == MONTH_WIDE).get_column("reason").to_list()
    if too_many:
        return (
            f"{too_many[0]}; nothing is sent. Split the connection's sources across several AnyCost "
            "Stream connections, or raise cloudzero.limits.rows_per_month if CloudZero raised your limit."
        )
    return f"{len(problems):,} problem(s); the first are in first_problems"


class DropConfig(dg.Config):
    """Run options of a drop/<connection> partition."""

    force: bool = False  # send even if CloudZero already holds exactly this month


def drop_asset(
    connection: str, sources: list[str], project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    ins = {f"cbf_{name}": dg.AssetIn(key=cbf_key(name)) for name in sources}
    spec = project.connections[connection]
    how = {
        "replace_drop": "Each submission replaces the whole month.",
        "replace_hourly": "Each submission replaces only the hours it holds (operation replace_hourly).",
        "sum": "Each submission is added to what CloudZero holds (operation sum).",
    }[spec.operation]

    @dg.asset(
        key=drop_key(connection),
        ins=ins,
        partitions_def=partitions,
        group_name=connection,
        pool=pool_name(connection),
        kinds={"cloudzero"},
        description=(
            f"Step 3 of 3: the month as sent to CloudZero connection `{connection}` (sources: "
            f"{', '.join(sources)}). {how} A month CloudZero already holds unchanged is not sent "
            "again (run config `force: true` sends it anyway). The metadata holds CloudZero's "
            "receipt, the totals, and what changed against the previous submission of the month."
        ),
    )
    def _drop(
        context: dg.AssetExecutionContext,
        config: DropConfig,
        cloudzero: CloudZeroResource,
        **frames: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        month = str(Month.parse(context.partition_key))
        try:
            connection_id = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
        except ConfigError as error:
            raise _fail(error, NOTHING_SENT) from None
        cbf = pl.concat([frames[f"cbf_{name}"] for name in sources], how="diagonal")
        if cbf.is_empty():
            # Sending an empty month would wipe what CloudZero holds for it: an export that came
            # out empty by mistake must not do that silently.
            raise _fail(
                ValueError(
                    f"no rows for {month} in source(s) {', '.join(sources)}; nothing was sent to "
                    f"connection {connection}. If CloudZero should hold nothing for this month, run "
                    f"`anycost delete-month {connection} {month} --yes-delete-month`."
                ),
                NOTHING_SENT,
            )
        if len(sources) > 1:
            # Each source passed its own checks; combined, their columns meet (a tagged source
            # beside an untagged one), so the month as sent is checked once more. Its size is
            # send_month's to judge (MonthOverLimit names rows and bytes, the excess and the fix).
            problems = row_problems(cbf, Month.parse(month), rows_per_month=None)
            if not problems.is_empty():
                first = "; ".join(
                    f"{Path(f).name}, row {r}, column {c!r}: {why}"
                    for f, r, c, _, why in problems.head(5).iter_rows()
                )
                raise _fail(
                    ValueError(
                        f"the sources of connection {connection} combined break {problems.height:,} CBF "
                        f"rule(s) for {month}; nothing was sent. First: {first}"
                    ),
                    NOTHING_SENT,
                )
        try:
            bodies = connection_bodies(project, connection, cbf, month)
        except ValueError as error:  # e.g. one row larger than a whole request body
            raise _fail(error, NOTHING_SENT) from None
        digest = content_hash(bodies)
        try:
            with cloudzero.open_client() as client:
                outcome = send_month(
                    client,
                    connection_id,
                    month,
                    [(b.operation, b.payload, b.rows) for b in bodies],
                    digest,
                    lock_folder=cloudzero.lock_folder,
                    ledger=cloudzero.ledger(),
                    destination=cloudzero.destination(),
                    limits=cloudzero.limits(),
                    force=config.force,
                    submission_id=f"{context.run.run_id}-{uuid.uuid4().hex[:8]}",
                )
        except DeliveryFailed as error:
            raise _fail(error, error.state) from None
        except CloudZeroError as error:  # refused or failed before any body was sent
            raise _fail(error, NOTHING_SENT) from None
        total: Decimal = cost_total(cbf)
        receipt = outcome.submission
        if receipt is None:
            previous = outcome.previous or {}
            context.log.info(
                f"{month}: unchanged since {previous.get('sent_at')}; nothing sent to {cloudzero.where()}"
            )
            sent = {
                STATUS: "unchanged",
                DROP_IDS: ", ".join(previous.get("drop_ids", [])),
                BODIES: 0,
                "bytes": 0,
                "operations": "none (unchanged)",
                "last_sent_at": str(previous.get("sent_at")),
                "duration_seconds": 0.0,
            }
        else:
            context.log.info(
                f"{month}: {outcome.rows:,} rows, cost {total}, sent to {cloudzero.where()}"
            )
            sent = {
                STATUS: "sent",
                DROP_IDS: ", ".join(b.drop_id for b in receipt.bodies),
                BODIES: len(receipt.bodies),
                "bytes": receipt.bytes,
                "operations": ", ".join(b.operation for b in receipt.bodies),
                "duration_seconds": round(receipt.seconds, 3),
            }
        return dg.Output(
            cbf,
            metadata={
                ROWS: outcome.rows,
                **cost_metadata(total),
                MONTH: month,
                "connection_id": connection_id,
                "target": cloudzero.target,
                "sent_to": cloudzero.where(),
                **sent,
                "rows_cloudzero_reports": outcome.reported_rows,
                "month_bytes": outcome.bytes,
                "content_hash": digest,
                COST_BY_LINE_ITEM_TYPE: cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
                **submission_metadata(project, connection, month, cbf),
            },
        )

    return _drop
