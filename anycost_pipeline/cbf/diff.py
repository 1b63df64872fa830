"""What changed between two submissions of one month: rows added, removed, changed, cost delta.

A row's identity is every CBF column except the cost columns: the same hour, service, account,
line item type, tags and so on. Two rows with the same identity and different costs are one
*changed* row. Identical rows may appear several times (CloudZero keeps duplicates), so rows are
compared as multisets: three copies before and two after is one removed row.
"""

from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.columns import COST, COST_COLUMNS, USAGE_START
from anycost_pipeline.cbf.decimals import EXACT

SERVICE = "resource/service"
NO_SERVICE = "(none)"
HOURS_AT_A_TIME = 24  # a month in time order is counted a day at a time


@dataclass(frozen=True)
class MonthDiff:
    """The change from one submission of a month to the next."""

    rows_before: int
    rows_after: int
    added: int
    removed: int
    changed: int
    cost_before: Decimal
    cost_after: Decimal
    # Service → cost after minus cost before; services whose cost did not move are left out.
    cost_delta_by_service: dict[str, Decimal] = field(default_factory=dict)

    @property
    def cost_delta(self) -> Decimal:
        return EXACT.subtract(self.cost_after, self.cost_before)

    @property
    def unchanged(self) -> int:
        return self.rows_after - self.added - self.changed


def _cbf_only(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The frame over `columns` as text, a missing column or null counted as empty."""
    return frame.select(
        [
            (pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String))
            .fill_null("")
            .alias(c)
            for c in columns
        ]
    )


def _plain_costs(frame: pl.DataFrame) -> pl.Series:
    """The frame's costs as plain decimal text; canonical text (what a CBF frame holds) is
    that already and is taken as it is, not copied."""
    costs = frame.get_column(COST)
    if costs.dtype == pl.String and decimals.is_canonical(costs):
        return costs
    return frame.select(decimals.plain(pl.col(COST))).to_series()


def _counts(frame: pl.DataFrame, columns: list[str], name: str) -> pl.DataFrame:
    return frame.group_by(columns).agg(pl.len().cast(pl.Int64).alias(name))


def _cost_by_service(frame: pl.DataFrame) -> dict[str, Decimal]:
    if frame.is_empty():
        return {}
    service = (
        pl.col(SERVICE).replace("", NO_SERVICE) if SERVICE in frame.columns else pl.lit(NO_SERVICE)
    )
    # Only the two columns summed, and each service's sum in one pass: a group of every
    # column, or of each service's costs, would copy the month's rows.
    pairs = frame.select(service.alias("_service"), pl.col(COST))
    sums = decimals.exact_sums_by(pairs.get_column("_service"), _plain_costs(pairs))
    return {str(name): total for name, _, total in sums}


def month_diff(before: pl.DataFrame | None, after: pl.DataFrame) -> MonthDiff:
    """Compare the previous submission of a month (`None`: there was none) with the new one."""
    if before is None:
        # Every row is added: no need to count the month's rows by identity (on a large
        # month that takes several times the month's memory).
        return MonthDiff(
            rows_before=0,
            rows_after=after.height,
            added=after.height,
            removed=0,
            changed=0,
            cost_before=Decimal(0),
            cost_after=_cost_total(after),
            cost_delta_by_service={s: d for s, d in _by_service(after).items() if d != 0},
        )
    columns = sorted(
        {c for c in [*before.columns, *after.columns] if not c.startswith("_")} | {COST}
    )
    identity = [c for c in columns if c not in COST_COLUMNS]
    old, new = _cbf_only(before, columns), _cbf_only(after, columns)

    changed, left_before, left_after = _leftovers(old, new, columns, identity)

    by_before, by_after = _cost_by_service(old), _cost_by_service(new)
    delta = {
        service: EXACT.subtract(
            by_after.get(service, Decimal(0)), by_before.get(service, Decimal(0))
        )
        for service in sorted(set(by_before) | set(by_after))
    }
    return MonthDiff(
        rows_before=old.height,
        rows_after=new.height,
        added=left_after - changed,
        removed=left_before - changed,
        changed=changed,
        cost_before=decimals.exact_sum(_plain_costs(old)),
        cost_after=decimals.exact_sum(_plain_costs(new)),
        cost_delta_by_service={s: d for s, d in delta.items() if d != 0},
    )


def _leftovers(
    old: pl.DataFrame, new: pl.DataFrame, columns: list[str], identity: list[str]
) -> tuple[int, int, int]:
    """(changed, rows of `old` left over, rows of `new` left over) once identical rows cancel.

    Rows of different hours never share an identity (the hour is part of it), so two months in
    time order are counted a day of hours at a time, by slices that copy nothing: counting a
    whole month's rows by identity takes several times its memory.
    """
    if USAGE_START not in identity or not (
        old.get_column(USAGE_START).is_sorted() and new.get_column(USAGE_START).is_sorted()
    ):
        return _counted(old, new, columns, identity)
    hours = pl.concat([old.get_column(USAGE_START), new.get_column(USAGE_START)]).unique().sort()
    cuts = hours.gather_every(HOURS_AT_A_TIME).to_list()[1:]
    totals = [0, 0, 0]
    starts = (0, 0)
    for cut in [*cuts, None]:
        ends = tuple(
            frame.height if cut is None else int(frame.get_column(USAGE_START).search_sorted(cut))
            for frame in (old, new)
        )
        part = _counted(
            old.slice(starts[0], ends[0] - starts[0]),
            new.slice(starts[1], ends[1] - starts[1]),
            columns,
            identity,
        )
        totals = [t + p for t, p in zip(totals, part, strict=True)]
        starts = ends
    return totals[0], totals[1], totals[2]


def _counted(
    old: pl.DataFrame, new: pl.DataFrame, columns: list[str], identity: list[str]
) -> tuple[int, int, int]:
    """`_leftovers` of two frames, counted at once."""
    # Identical rows (identity and costs) cancel out pairwise; what is left over of an identity
    # on both sides is a changed row, the rest is added or removed.
    whole = (
        _counts(old, columns, "n_before")
        .join(
            _counts(new, columns, "n_after"),
            on=columns,
            how="full",
            coalesce=True,
            nulls_equal=True,
        )
        .with_columns(pl.col("n_before", "n_after").fill_null(0))
    )
    leftover = whole.with_columns(
        (pl.col("n_before") - pl.min_horizontal("n_before", "n_after")).alias("left_before"),
        (pl.col("n_after") - pl.min_horizontal("n_before", "n_after")).alias("left_after"),
    )
    if identity:
        per_identity = leftover.group_by(identity).agg(pl.col("left_before", "left_after").sum())
    else:
        per_identity = leftover.select(pl.col("left_before", "left_after").sum())
    counts = per_identity.select(
        pl.min_horizontal("left_before", "left_after").sum().alias("changed"),
        pl.col("left_before").sum().alias("left_before"),
        pl.col("left_after").sum().alias("left_after"),
    ).row(0, named=True)
    changed = int(counts["changed"] or 0)
    return changed, int(counts["left_before"] or 0), int(counts["left_after"] or 0)


def _cost_total(frame: pl.DataFrame) -> Decimal:
    return decimals.exact_sum(_plain_costs(_cbf_only(frame, [COST])))


def _by_service(frame: pl.DataFrame) -> dict[str, Decimal]:
    """Cost by service, as `month_diff` counts it."""
    return _cost_by_service(
        _cbf_only(frame, [c for c in (SERVICE, COST) if c in frame.columns] or [COST])
    )
