"""Corrections to months already invoiced: which rows are corrections, and which month they go to.

A source states a correction as a new row: the hour it corrects (FOCUS `ChargePeriodStart`), the
month it is billed in (FOCUS `BillingPeriodStart`) and a marker (FOCUS `ChargeClass` =
`Correction`; OCI `lineItem/isCorrection` = `true`). Two policies, per source:

- `restate` (the default): the row stays in the month it corrects, which is sent again with it
  (usage-time truth; the corrected month no longer equals its invoice).
- `book_forward`: the row goes to the first hour of the month it is billed in, its description
  prefixed "Correction for YYYY-MM: " (invoice truth: each month's total equals its invoices;
  the corrected month stays as it was sent).

`book_hours` is where a correction's hour is decided; `cbf.hours.row_hours` calls it, so the
reader, the file index, the sensors and the plan all put the row in the same month.
"""

from collections import defaultdict
from decimal import Decimal
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.errors import no_problems, problem_frame, require_columns
from anycost_pipeline.cbf.times import utc_time
from anycost_pipeline.figures import counted, shown

CORRECTIONS_NOTE = "corrections"  # the cbf/<source> metadata key of `summary`
CORRECTS = "_corrects"  # book_forward: the month (YYYY-MM) a correction row corrects
DESCRIPTION = "lineitem/description"
_MONTH_PREFIX = r"^\s*(\d{4}-(?:0[1-9]|1[0-2]))"


class Detect(BaseModel):
    """A source column and the values that mark a row as a correction (compared without case
    and surrounding spaces: `true`, `True` and `TRUE` are one value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = Field(min_length=1)
    values: list[str] = Field(min_length=1)


class Corrections(BaseModel):
    """How a source's corrections to invoiced months are recognised and where they are sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: Literal["restate", "book_forward"] = "restate"
    detect: Detect | None = None
    billed_month_column: str | None = Field(
        default=None, description="the source column of the month a row is billed in"
    )

    @model_validator(mode="after")
    def _book_forward_needs_columns(self) -> "Corrections":
        if self.policy == "book_forward" and (self.detect is None or not self.billed_month_column):
            raise ValueError(
                "policy book_forward needs `detect` (the column and values that mark a "
                "correction) and `billed_month_column` (the month a row is billed in), e.g. "
                "detect: {column: ChargeClass, values: [Correction]}, "
                "billed_month_column: BillingPeriodStart (or `preset: focus`)"
            )
        return self


def is_correction(frame: pl.DataFrame, corrections: Corrections) -> pl.Expr | None:
    """Whether each row is a correction; None when the source declares no detection or its
    frame lacks the column (a FOCUS export without ChargeClass holds no corrections)."""
    detect = corrections.detect
    if detect is None or detect.column not in frame.columns:
        return None
    wanted = [v.strip().lower() for v in detect.values]
    text = pl.col(detect.column).cast(pl.String).str.strip_chars().str.to_lowercase()
    return text.is_in(wanted).fill_null(False)


def billed_month(column: str, time_format: str | list[str] | None) -> pl.Expr:
    """The month (YYYY-MM) each row is billed in: a calendar label, read as written (an ISO date
    or time starts with it), never moved by a time zone; other formats as the source's times."""
    text = pl.col(column).cast(pl.String)
    read = utc_time(text, "UTC", time_format).dt.strftime("%Y-%m")
    return pl.coalesce(text.str.extract(_MONTH_PREFIX, 1), read)


def book_hours(
    frame: pl.DataFrame,
    source: str,
    corrections: Corrections,
    hour: str,
    time_format: str | list[str] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Under `book_forward`, each correction row's hour becomes the first hour of the month it
    is billed in (unless its own hour is in that month), and `_corrects` keeps the month it
    corrects; the rows whose billed month cannot be read are the problems. Under `restate`,
    the frame as it is."""
    if corrections.policy != "book_forward":
        return frame, no_problems()
    column = corrections.billed_month_column
    assert column is not None and corrections.detect is not None
    # Under book_forward a month's rows depend on these columns: an export without them fails.
    require_columns(frame, source, [corrections.detect.column, column])
    marked = is_correction(frame, corrections)
    assert marked is not None
    billed = billed_month(column, time_format)
    start = pl.concat_str(billed, pl.lit("-01T00:00:00Z")).str.to_datetime(
        "%Y-%m-%dT%H:%M:%SZ", time_zone="UTC", time_unit="us", strict=False
    )
    own = pl.col(hour).dt.strftime("%Y-%m")
    moved = marked & billed.is_not_null() & (billed != own)
    framed = frame.with_columns(
        pl.when(marked).then(own).otherwise(None).alias(CORRECTS),
        # A correction whose billed month cannot be read is in no month, as an unreadable time.
        pl.when(marked & billed.is_null())
        .then(None)
        .when(moved)
        .then(start)
        .otherwise(pl.col(hour))
        .alias(hour),
    )
    problems = problem_frame(
        frame,
        marked & billed.is_null(),
        column,
        "not a month: a correction under book_forward goes to the month it is billed in",
        pl.col(column),
    )
    return framed, problems


def without_end(frame: pl.DataFrame, end_column: str | None, hour: str) -> pl.DataFrame:
    """The frame with the end time (`end_column`, the source of `time/usage_end`) left out of
    each correction booked into a later month: it would end before its new hour, and the
    period it corrects is in its description instead."""
    if CORRECTS not in frame.columns or end_column is None or end_column not in frame.columns:
        return frame
    moved = pl.col(CORRECTS).is_not_null() & (pl.col(CORRECTS) != pl.col(hour).dt.strftime("%Y-%m"))
    return frame.with_columns(
        pl.when(moved.fill_null(False)).then(None).otherwise(pl.col(end_column)).alias(end_column)
    )


def described(cbf: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Under book_forward, each correction row's `lineitem/description` prefixed with the month
    it corrects ("Correction for 2025-05: ..."): never a tag, which CloudZero would apply to the
    resource's every row. `cbf` and `frame` are row for row."""
    if CORRECTS not in frame.columns:
        return cbf
    corrects = frame.get_column(CORRECTS)
    if corrects.null_count() == corrects.len():
        return cbf
    prefix = pl.concat_str(pl.lit("Correction for "), pl.lit(corrects))
    if DESCRIPTION in cbf.columns:
        old = pl.col(DESCRIPTION)
        text = pl.when(old.is_null() | (old == "")).then(prefix).otherwise(prefix + ": " + old)
    else:
        text = prefix
    return cbf.with_columns(
        pl.when(pl.lit(corrects).is_not_null())
        .then(text)
        .otherwise(pl.col(DESCRIPTION) if DESCRIPTION in cbf.columns else pl.lit(None, pl.String))
        .alias(DESCRIPTION)
    )


def summary(
    cbf: pl.DataFrame,
    frame: pl.DataFrame,
    corrections: Corrections,
    hour: str,
    time_format: str | list[str] | None,
) -> str | None:
    """One line per (billed month, corrected month): "2 correction rows (+300.00 / −300.00)
    billed 2025-06 for 2025-05 → restating 2025-05" (or "→ booked in 2025-06"); None when the
    month holds no correction. Costs are the CBF's, summed exactly. Row for row as `described`."""
    marked = is_correction(frame, corrections)
    if marked is None:
        return None
    column = corrections.billed_month_column
    rows = frame.with_columns(cbf.get_column("cost/cost").alias("_cost")).filter(marked)
    if rows.is_empty():
        return None
    picked = rows.select(
        (pl.col(CORRECTS) if CORRECTS in rows.columns else pl.col(hour).dt.strftime("%Y-%m"))
        .cast(pl.String)
        .alias("corrects"),
        (
            billed_month(column, time_format)
            if column and column in rows.columns
            else pl.lit(None, pl.String)
        ).alias("billed"),
        pl.col("_cost"),
    )
    groups: dict[tuple[str | None, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for corrects, billed, cost in picked.iter_rows():
        sums = groups[(billed, corrects)]
        value = Decimal(cost) if cost is not None else Decimal(0)
        sums[0] += 1
        sums[1 if value >= 0 else 2] = EXACT.add(sums[1 if value >= 0 else 2], value)
    lines = []
    for (billed, corrects), (count, plus, minus) in sorted(groups.items(), key=str):
        where = (
            f"booked in {billed}"
            if corrections.policy == "book_forward"
            else f"restating {corrects}"
        )
        costs = " / ".join(
            [f"+{shown(plus)}"] * bool(plus or not minus) + [f"−{shown(-minus)}"] * bool(minus)
        )
        lines.append(
            f"{counted(int(count), 'correction row')} ({costs}) billed {billed or '?'} "
            f"for {corrects} → {where}"
        )
    return "; ".join(lines) or None
