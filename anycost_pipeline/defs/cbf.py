"""cbf/<source>: a month in CloudZero's Common Bill Format, guarded by blocking checks, and
rejects/<source> for rows kept out of it."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.verdicts import (
    CheckedConversion,
    CostConservation,
    DiscountGap,
    convert_and_check,
    rows_valid_summary,
    with_verdict,
)
from anycost_pipeline.config import AnycostConfig, AnySource
from anycost_pipeline.defs.failures import user_errors
from anycost_pipeline.defs.metadata import (
    SERVICE,
    cost_by,
    cost_metadata,
    files_used,
    problems_table,
    rejects_table,
)
from anycost_pipeline.defs.names import (
    CBF,
    CBF_OUTPUT,
    COST_BY_LINE_ITEM_TYPE,
    COST_BY_SERVICE,
    COST_CONSERVED,
    DISCOUNTED_COST_MATCHES,
    FILES_USED,
    FRAMES_IO_MANAGER,
    MONTH,
    READER,
    READS,
    REJECTS,
    REJECTS_OUTPUT,
    ROWS,
    ROWS_VALID,
    SETTLED,
    cbf_key,
    cbf_op,
    raw_key,
    rejects_key,
    scoped,
)
from anycost_pipeline.months import Month
from anycost_pipeline.overlap import with_parties
from anycost_pipeline.settling import source_settled, utc_now
from anycost_pipeline.sources.reads import read_of, with_read


def cbf_asset(
    name: str, source: AnySource, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey(cbf_key(name))
    rejecting = source.on_bad_rows == "reject"

    @dg.multi_asset(
        outs=_outs(name, source, rejecting, project.scope),
        ins={
            "raw": dg.AssetIn(
                key=raw_key(name),
                metadata={READER: "/".join(cbf_key(name)), READS: ["/".join(raw_key(name))]},
            )
        },
        partitions_def=partitions,
        name=cbf_op(name),
        can_subset=False,
        check_specs=_check_specs(key, source, partitions),
    )
    def _cbf(
        context: dg.AssetExecutionContext, raw: pl.DataFrame
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        month = Month.parse(context.partition_key)
        with user_errors(declared_in=project.declared_in):
            mapping = project.mapping_of(name)  # reads a rate card file, if the source has one
            limit = project.cloudzero.limits.rows_per_month
            checked = convert_and_check(raw, name, mapping, month, limit)
        blocking = [
            rows_valid_result(key, checked.problems),
            cost_conserved_result(key, checked.conservation),
        ]
        failed = [result.check_name for result in blocking if not result.passed]
        # The verdict is stored with the frame, so a drop started on its own refuses it too.
        cbf = with_verdict(checked.cbf, failed)
        number = read_of(raw)
        if number is not None:  # the drop never sends a read older than the one last sent
            cbf = with_read(cbf, number)
        cbf = with_parties(cbf, raw, source)  # who invoices each charge: the overlap check's
        settled = source_settled(name, source.settles, str(month), checked.cbf, utc_now())
        metadata = {**cbf_metadata(checked, month), SETTLED: str(settled)}
        yield dg.Output(cbf, output_name=CBF_OUTPUT, metadata=metadata)
        if rejecting:
            yield dg.Output(
                checked.rejects, output_name=REJECTS_OUTPUT, metadata=rejects_metadata(checked)
            )
        yield from blocking
        yield discounted_cost_result(key, checked.discount)

    return _cbf


def _outs(name: str, source: AnySource, rejecting: bool, scope: str) -> dict[str, dg.AssetOut]:
    outs = {
        CBF_OUTPUT: dg.AssetOut(
            key=cbf_key(name),
            io_manager_key=scoped(FRAMES_IO_MANAGER, scope),
            group_name=CBF,
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
            io_manager_key=scoped(FRAMES_IO_MANAGER, scope),
            group_name=REJECTS,
            kinds={"polars"},
            description=(
                f"Rows of source `{name}` kept out of the month's CBF because of bad values "
                "(`on_bad_rows: reject`): each whole source row with its file, row number and "
                "reasons in `_reasons`. Fix the source and rematerialise the month to send them."
            ),
        )
    return outs


def _check_specs(
    key: dg.AssetKey, source: AnySource, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    # Each result is the month's: the UI shows which month failed, and a later pass of the
    # month replaces its failure (without it, results have no month and the month stays red).
    stated = source.cost_stated
    if source.currency:
        stated += f" × the month's {source.currency.source}→{source.currency.target} rate"
    return [
        dg.AssetCheckSpec(
            ROWS_VALID,
            asset=key,
            partitions_def=partitions,
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
            partitions_def=partitions,
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
            partitions_def=partitions,
            blocking=False,
            description="Warning only: the month's cost/cost and cost/discounted_cost totals match, as CloudZero expects.",
        ),
    ]


def cbf_metadata(checked: CheckedConversion, month: Month) -> dict[str, Any]:
    cbf, money = checked.cbf, checked.conservation
    return {
        ROWS: len(cbf),
        **cost_metadata(money.cbf_total),
        MONTH: str(month),
        "source_rows_sent": money.sent_rows,
        "rejected_rows": money.rejected_rows,
        **{k: dg.MetadataValue.text(v) for k, v in checked.conversion.notes.items()},
        COST_BY_LINE_ITEM_TYPE: cost_by(cbf, COST, LINE_ITEM_TYPE, "line item type"),
        COST_BY_SERVICE: cost_by(cbf, COST, SERVICE, "service"),
        FILES_USED: files_used(cbf),
    }


def rejects_metadata(checked: CheckedConversion) -> dict[str, Any]:
    money = checked.conservation
    return {
        ROWS: checked.rejects.height,
        "rejected_cost_exact": str(money.rejected_total),
        "rows_without_readable_cost": money.rejected_unreadable,
        "first_rejects": rejects_table(checked.rejects),
    }


def rows_valid_result(key: dg.AssetKey, problems: pl.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=ROWS_VALID,
        asset_key=key,
        passed=problems.is_empty(),
        description=rows_valid_summary(problems),
        metadata={"problems": len(problems), "first_problems": problems_table(problems)},
    )


def cost_conserved_result(key: dg.AssetKey, money: CostConservation) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=COST_CONSERVED,
        asset_key=key,
        passed=money.passed,
        metadata={
            "source_total": str(money.source_total),
            "cbf_total": str(money.cbf_total),
            "rejected_total": str(money.rejected_total),
            "difference": str(money.difference),
            "source_rows": money.source_rows,
            "source_rows_sent": money.sent_rows,
            "rejected_rows": money.rejected_rows,
        },
    )


def discounted_cost_result(key: dg.AssetKey, gap: DiscountGap) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=DISCOUNTED_COST_MATCHES,
        asset_key=key,
        passed=gap.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"cost_total": str(gap.totals[0]), "discounted_cost_total": str(gap.totals[1])}
        if gap.totals
        else {"note": "no cost/discounted_cost column"},
    )
