"""A source's month converted to CBF, with the verdicts of the checks that guard sending it.

The arithmetic behind the cbf/<source> checks lives here, in plain terms, so that a check
result in the UI and a test of the money say the same thing.
"""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf.conservation import sent_cost, source_cost
from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.mapping import Conversion, convert
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.validation import (
    MONTH_WIDE,
    discount_gap,
    row_problems,
    source_rows_in,
)
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month


@dataclass(frozen=True)
class CostConservation:
    """The month's money and rows as the source states them, against what is sent and rejected."""

    source_total: Decimal
    cbf_total: Decimal
    rejected_total: Decimal
    source_rows: int
    sent_rows: int  # source rows that some CBF row came from
    rejected_rows: int
    unreadable: int  # source rows without a readable cost
    rejected_unreadable: int  # of those, the ones rejected

    @property
    def sent_and_rejected(self) -> Decimal:
        # Python's default decimal context rounds at 28 digits; money here may be longer.
        return EXACT.add(self.cbf_total, self.rejected_total)

    @property
    def difference(self) -> Decimal:
        return EXACT.subtract(self.sent_and_rejected, self.source_total)

    @property
    def accounted(self) -> bool:
        """Every source row is sent or rejected, and every unreadable cost was rejected."""
        return (
            self.sent_rows + self.rejected_rows == self.source_rows
            and self.unreadable == self.rejected_unreadable
        )

    @property
    def passed(self) -> bool:
        return self.source_total == self.sent_and_rejected and self.accounted


@dataclass(frozen=True)
class DiscountGap:
    """The month's cost/cost and cost/discounted_cost totals (None: no discounted cost column)."""

    totals: tuple[Decimal, Decimal] | None

    @property
    def passed(self) -> bool:
        return self.totals is None or self.totals[0] == self.totals[1]


@dataclass(frozen=True)
class CheckedConversion:
    """A month of one source in CBF and the verdict of each check on it."""

    conversion: Conversion
    problems: pl.DataFrame  # (file, row, column, value, reason) of every broken CBF rule
    conservation: CostConservation
    discount: DiscountGap

    @property
    def cbf(self) -> pl.DataFrame:
        return self.conversion.cbf

    @property
    def rejects(self) -> pl.DataFrame:
        return self.conversion.rejects


def convert_and_check(
    raw: pl.DataFrame, source: str, options: MappingOptions, month: Month, rows_per_month: int
) -> CheckedConversion:
    """Convert the source's month and judge it; raises BadSourceData or MappingError when the
    month cannot be converted at all."""
    conversion = convert(raw, source, options, month, rows_per_month)
    cbf, rejects = conversion.cbf, conversion.rejects
    problems = row_problems(cbf, month, rows_per_month)
    source_total, unreadable = source_cost(raw, options, month)
    rejected_total, rejected_unreadable = source_cost(rejects, options, month)
    cbf_total = sent_cost(cbf)  # summed apart from the mapping's and validation's sums
    conservation = CostConservation(
        source_total=source_total,
        cbf_total=cbf_total,
        rejected_total=rejected_total,
        source_rows=raw.height,
        sent_rows=source_rows_in(cbf),
        rejected_rows=rejects.height,
        unreadable=unreadable,
        rejected_unreadable=rejected_unreadable,
    )
    return CheckedConversion(
        conversion, problems, conservation, DiscountGap(discount_gap(cbf, cbf_total))
    )


def rows_valid_summary(problems: pl.DataFrame) -> str | None:
    """One line on failed CBF rules, for the run log and `anycost run` (None: no problem)."""
    if problems.is_empty():
        return None
    too_many = problems.filter(pl.col("column") == MONTH_WIDE).get_column("reason").to_list()
    if too_many:
        return (
            f"{too_many[0]}; nothing is sent. Split the connection's sources across several AnyCost "
            "Stream connections, or raise cloudzero.limits.rows_per_month if CloudZero raised your limit."
        )
    first = "; ".join(
        f"{Path(str(file)).name}, row {row}, column {column!r}, value {value!r}: {reason}"
        for file, row, column, value, reason in problems.head(SHOWN_PROBLEMS).iter_rows()
    )
    more = " (the first 20 in first_problems)" if len(problems) > SHOWN_PROBLEMS else ""
    return f"{counted(len(problems), 'problem')}: {first}{more}"


SHOWN_PROBLEMS = 3  # in the one line; the check's metadata lists 20


# The blocking checks' verdict travels with the frame, in a lineage column that is never sent:
# a frame is stored before its checks are reported, and the drop may be materialised on its
# own later (the UI, a sensor, a backfill of the drop alone), so the drop reads the verdict
# from the frame itself and refuses a month that failed, or was never judged.
CHECKS_COLUMN = "_blocking_checks_failed"  # "" on every row when every blocking check passed


def with_verdict(cbf: pl.DataFrame, failed: list[str]) -> pl.DataFrame:
    """The frame with the names of the blocking checks it failed (none: passed) on every row."""
    return cbf.with_columns(pl.lit(", ".join(failed), dtype=pl.String).alias(CHECKS_COLUMN))


def unchecked(frames: dict[str, pl.DataFrame]) -> dict[str, str]:
    """Each source whose frame failed a blocking check, or carries no verdict, and why."""
    found = {}
    for source, frame in frames.items():
        if frame.is_empty():
            continue  # an empty month is refused on its own, with its own words
        if CHECKS_COLUMN not in frame.columns:
            found[source] = "was stored without its checks' verdict (by an older version)"
            continue
        failed = sorted(set(frame.get_column(CHECKS_COLUMN).unique().to_list()) - {"", None})
        if failed:
            found[source] = (
                f"failed its blocking {'check' if len(failed) == 1 else 'checks'} {', '.join(failed)}"
            )
    return found
