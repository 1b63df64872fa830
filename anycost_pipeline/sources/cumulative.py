"""Running totals (month to date, day over day) turned into each record's own amount, exactly:
a record's value minus the previous record's of its group. A vendor that reports a cumulative
figure per day would otherwise be counted once per day it was reported."""

from decimal import Decimal, InvalidOperation, localcontext

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.config import Cumulative

# Enough digits that a difference of two amounts is never rounded.
_DIGITS = 200


def own_amounts(frame: pl.DataFrame, cumulative: Cumulative) -> pl.DataFrame:
    """`frame` with each of `cumulative.columns` holding the record's own amount.

    Records are grouped by `by` (and, with `resets: month`, the month of `order`) and ordered
    by `order` (ISO text); the first of a group keeps its value. Raises ValueError naming the
    record when a value is not a number, or two records of a group share their `order`.
    """
    if frame.is_empty():
        return frame
    needed = [*cumulative.columns, *cumulative.by, cumulative.order]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"`cumulative` names {', '.join(map(repr, missing))}, which the records do not have "
            f"(they have {', '.join(c for c in frame.columns if not c.startswith('_'))})"
        )
    orders = frame.get_column(cumulative.order).to_list()
    keys = list(zip(*(frame.get_column(c).to_list() for c in cumulative.by))) or [()] * len(orders)
    if cumulative.resets == "month":
        keys = [(*key, (when or "")[:7]) for key, when in zip(keys, orders)]
    places = sorted(range(frame.height), key=lambda n: (tuple(map(str, keys[n])), orders[n] or ""))
    columns = {}
    for column in cumulative.columns:
        values = frame.get_column(column).to_list()
        own: list[str | None] = [None] * frame.height
        previous: dict[tuple, tuple[int, Decimal]] = {}
        with localcontext() as context:
            context.prec = _DIGITS
            for n in places:
                amount = _amount(frame, n, column, values[n])
                before = previous.get(keys[n])
                if before is not None and orders[before[0]] == orders[n]:
                    raise ValueError(
                        f"{_where(frame, n)}: two records of the same group have {cumulative.order} "
                        f"{orders[n]!r} (the other: {_where(frame, before[0])}); add the column "
                        "that tells them apart to `cumulative.by`"
                    )
                own[n] = _plain(amount - before[1] if before is not None else amount)
                previous[keys[n]] = (n, amount)
        columns[column] = pl.Series(column, own, dtype=pl.String)
    return frame.with_columns(**columns)


def _amount(frame: pl.DataFrame, n: int, column: str, text: str | None) -> Decimal:
    try:
        amount = Decimal((text or "").strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ValueError(
            f"{_where(frame, n)}: {column} {text!r} is not a number, so the running total "
            "cannot be turned into the record's own amount (`cumulative`)"
        )
    return amount


def _where(frame: pl.DataFrame, n: int) -> str:
    lineage = [c for c in (SOURCE_FILE, SOURCE_ROW) if c in frame.columns]
    if len(lineage) < 2:
        return f"record {n + 1}"
    return f"{frame[n, SOURCE_FILE]}, record {frame[n, SOURCE_ROW]}"


def _plain(amount: Decimal) -> str:
    return format(amount.copy_abs() if amount.is_zero() else amount, "f")
