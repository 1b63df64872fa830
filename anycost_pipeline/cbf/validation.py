"""The rules a CBF frame must pass before any of it is sent."""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.columns import (
    COST,
    DECIMAL_COLUMNS,
    LINE_ITEM_TYPE,
    LINE_ITEM_TYPES,
    REQUIRED_COLUMNS,
    RESOURCE_ID,
    ROWS_PER_MONTH,
    TAG_PREFIX,
    USAGE_START,
    is_cbf_column,
)
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW, no_problems, problem_frame
from anycost_pipeline.months import Month

MONTH_WIDE = "(all)"  # the column named by a problem of the whole month, not of one row
_HOUR = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z$"
# Seconds up to 59: polars reads a leap second :60 as the next minute, CloudZero refuses it.
_UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]+)?(Z|\+00:00)$"
_PLAIN = r"^-?[0-9]+(\.[0-9]+)?$"  # the reference's amount pattern, with an optional '-'


def _sent(name: str) -> pl.Expr:
    """True where a row is sent with this column: request bodies leave out null and ""."""
    value = pl.col(name)
    return value.is_not_null() & (value.cast(pl.String) != "")


def _no_instant(time: pl.Expr) -> pl.Expr:
    """True for date-time text that names no real instant (month 13, 25:00, 31 June)."""
    seconds = time.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
    return time.is_not_null() & seconds.is_null()


def row_problems(
    cbf: pl.DataFrame, month: Month, rows_per_month: int | None = ROWS_PER_MONTH
) -> pl.DataFrame:
    """Every rule broken by a row: one line per (row, column) with its reason; `rows_per_month`
    is CloudZero's limit (`cloudzero.limits.rows_per_month`), None where the month's size is
    judged elsewhere."""
    columns = [c for c in cbf.columns if not c.startswith("_")]
    rules: list[tuple[str, pl.Expr, str, pl.Expr | None]] = []

    def flag(column: str, bad: pl.Expr, reason: str, value: pl.Expr | None = None) -> None:
        rules.append((column, bad, reason, value))

    # A rule about a column's values holds only where the row is sent with it.
    for name in columns:
        if name.startswith(TAG_PREFIX) and not is_cbf_column(name):
            flag(
                name,
                _sent(name),
                "tag key may hold only letters, digits and _ . : / = + - @",
                pl.lit(name),
            )
        elif not is_cbf_column(name):
            flag(name, _sent(name), "not a CBF column")
    if rows_per_month is not None and cbf.height > rows_per_month:
        flag(
            MONTH_WIDE,
            pl.int_range(pl.len()) == 0,
            f"{month} has {cbf.height:,} rows, {cbf.height - rows_per_month:,} over the limit of {rows_per_month:,} rows "
            "per connection per month (cloudzero.limits.rows_per_month)",
            pl.lit(None),
        )
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            flag(name, pl.lit(True), "required column is missing", pl.lit(None))
        else:
            flag(name, pl.col(name).is_null() | (pl.col(name) == ""), "required value is empty")
    if USAGE_START in columns:
        start = pl.col(USAGE_START)
        flag(
            USAGE_START,
            ~start.str.contains(_HOUR) | _no_instant(start),
            "not an ISO-8601 UTC hour (YYYY-MM-DDTHH:00:00Z)",
        )
        flag(
            USAGE_START, ~start.str.starts_with(str(month)), f"outside the month {month}"
        )  # no sliced copies
    if "time/usage_end" in columns:
        end = pl.col("time/usage_end")
        flag(
            "time/usage_end",
            _sent("time/usage_end") & (~end.str.contains(_UTC_TIME) | _no_instant(end)),
            "not an ISO-8601 UTC time",
        )
    for name in DECIMAL_COLUMNS:
        if name in columns:
            value = pl.col(name)
            flag(name, _sent(name) & ~value.str.contains(_PLAIN), "not a plain decimal")
    if LINE_ITEM_TYPE in columns:
        kind = pl.col(LINE_ITEM_TYPE)
        flag(
            LINE_ITEM_TYPE,
            _sent(LINE_ITEM_TYPE) & ~kind.is_in(sorted(LINE_ITEM_TYPES)),
            "not a CBF line item type",
        )
    tags = [c for c in columns if c.startswith(TAG_PREFIX)]
    if tags:
        # Empty tags are left out of a row, so only a row sent with a tag needs a resource.
        no_id = ~_sent(RESOURCE_ID) if RESOURCE_ID in columns else pl.lit(True)
        flag(
            RESOURCE_ID,
            pl.any_horizontal(_sent(t) for t in tags) & no_id,
            "required on a row with tags (CloudZero needs a resource for tagged rows)",
            pl.lit(None),
        )
    if RESOURCE_ID in columns:
        flag(
            RESOURCE_ID,
            pl.col(RESOURCE_ID).str.contains(r"^[^:/]*[:/]$"),
            "nothing left after CloudZero cuts the id at its first : or /",
        )
    # Every rule in one parallel pass; only the rules some row breaks filter the month.
    broken = (
        cbf.select(
            bad.fill_null(False).any().alias(str(i)) for i, (_, bad, _, _) in enumerate(rules)
        ).row(0)
        if rules
        else ()
    )
    found = [no_problems()]
    for (column, bad, reason, value), hit in zip(rules, broken):
        if hit:
            found.append(
                problem_frame(
                    cbf, bad, column, reason, value if value is not None else pl.col(column)
                )
            )
    return pl.concat(found)


def discount_gap(cbf: pl.DataFrame, cost: Decimal | None = None) -> tuple[Decimal, Decimal] | None:
    """Totals of cost/cost (`cost` when already known) and cost/discounted_cost (blank falls back
    to cost), when both exist."""
    if "cost/discounted_cost" not in cbf.columns:
        return None
    discounted = cbf.select(pl.coalesce(pl.col("cost/discounted_cost"), pl.col(COST)).alias("d"))
    return cost if cost is not None else cost_total(cbf), cost_total(discounted, "d")


def source_rows_in(frame: pl.DataFrame) -> int:
    """How many distinct source rows (file, row) a frame holds: spreading makes several rows of one."""
    # A month of one file (the usual case) is its distinct row numbers; comparing with the first
    # name is free on the reader's constant file column, where grouping would hash every row's.
    file = pl.col(SOURCE_FILE)
    if frame.select(file.eq_missing(file.first()).all()).item() is not False:
        return int(frame.select(pl.col(SOURCE_ROW).n_unique()).item())
    # Distinct row numbers per file, added up: hashing the file name of every row costs 6x more.
    per_file = frame.group_by(SOURCE_FILE).agg(pl.col(SOURCE_ROW).n_unique())
    return int(per_file.get_column(SOURCE_ROW).sum())


def cost_total(frame: pl.DataFrame, column: str = COST) -> Decimal:
    """The exact total of a cost column of decimal text."""
    values = frame.get_column(column)
    # A CBF frame's costs are plain text already (`convert` made them so): sum them as they are.
    short = decimals.plain_sum(values) if values.dtype == pl.String else None
    if short is not None:
        return short
    return decimals.exact_sum(frame.select(decimals.plain(pl.col(column))).to_series())
