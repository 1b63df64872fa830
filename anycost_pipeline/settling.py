"""When a month's costs are final: each source's `settles` rule, and a connection's month
labelled `final` or `estimated` with the reason.

Vendors keep changing a month after it ends (late usage, restated days, the invoice); a month
is `estimated` until its sources say it has settled, then `final`. The label travels with the
month to CloudZero's journal record, so a final month whose data changes later is told apart
from a month that was still settling: it is sent with a warning, or held until `--force`
(`cloudzero.month_state`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import polars as pl

from anycost_pipeline.config import Settles
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month

FINAL = "final"
ESTIMATED = "estimated"


@dataclass(frozen=True)
class Settled:
    """A month's label and why; for sources that declare `settles`, when the month is final by
    date (`final_from`, None: no source declares it), whether its data says it is settled
    (every `when` rule holds), and whether a late change to it is held (not sent)."""

    final: bool
    because: str
    final_from: datetime | None = None
    data_settled: bool = True
    hold_late: bool = False
    judged_at: datetime | None = None

    @property
    def label(self) -> str:
        return FINAL if self.final else ESTIMATED

    def __str__(self) -> str:
        return f"{self.label}: {self.because}"


def final_from(month: str, settles: Settles | None) -> datetime:
    """The first instant (UTC) at which the month can be final by the date rule."""
    return Month.parse(month).end + timedelta(days=settles.after_days if settles else 0)


def source_settled(
    name: str, settles: Settles | None, month: str, cbf: pl.DataFrame, now: datetime
) -> Settled:
    """One source's month: final once the month is over and `after_days` have passed, and,
    with `when`, every row of it has its column filled (with one of `values`, if given)."""
    if settles is None:
        if now < Month.parse(month).end:
            return Settled(False, f"source {name}: {month} is not over")
        return Settled(True, f"source {name}: the month is over (no `settles` declared)")
    start = final_from(month, settles)
    waiting = _unsettled_rows(cbf, settles)
    declared = partial(
        Settled,
        final_from=start,
        data_settled=not waiting,
        hold_late=settles.late_change == "hold",
    )
    if now < Month.parse(month).end:
        return declared(False, f"source {name}: {month} is not over")
    if now < start:
        return declared(
            False,
            f"source {name}: settles {counted(settles.after_days, 'day')} after the month, "
            f"final from {start:%Y-%m-%d}",
        )
    if waiting and settles.when is not None:
        column, values = settles.when.column, settles.when.values
        wanted = f"{column} {' or '.join(values)}" if values else column
        return declared(
            False,
            f"source {name}: {counted(waiting, 'row')} of {cbf.height:,} not yet with {wanted}",
        )
    rule = f", and every row has {settles.when.column}" if settles.when is not None else ""
    return declared(
        True,
        f"source {name}: settles {counted(settles.after_days, 'day')} after the month "
        f"({start:%Y-%m-%d}){rule}",
    )


def _unsettled_rows(cbf: pl.DataFrame, settles: Settles) -> int:
    """The rows whose `when.column` does not yet say the month is invoiced."""
    if settles.when is None or cbf.height == 0:
        return 0
    if settles.when.column not in cbf.columns:
        return cbf.height
    value = pl.col(settles.when.column).cast(pl.String).str.strip_chars()
    settled = value.is_in(settles.when.values) if settles.when.values else value.str.len_chars() > 0
    return cbf.height - cbf.select(settled.fill_null(False).sum()).item()


def month_settled(parts: list[Settled], now: datetime) -> Settled:
    """A connection's month: final when every source's is; the reasons of the sources that
    decide it (the estimated ones, else all); held late when any source holds."""
    final = all(p.final for p in parts)
    deciding = [p.because for p in parts if p.final == final]
    dates = [p.final_from for p in parts if p.final_from is not None]
    return Settled(
        final,
        "; ".join(deciding),
        max(dates) if dates else None,
        all(p.data_settled for p in parts),
        any(p.hold_late for p in parts),
        now,
    )


def final_since(record: Mapping[str, Any], now: datetime) -> str | None:
    """When the month as last sent (a journal record's data) became final, if it has: it was
    sent with settled data, and the date rule it was sent under has passed since. None: it
    was sent while settling (or before any source declared `settles`)."""
    start, sent = record.get("final_from"), record.get("sent_at")
    if not start or not sent or not record.get("data_settled"):
        return None
    since = max(datetime.fromisoformat(start), datetime.fromisoformat(sent))
    return f"{since:%Y-%m-%d}" if since <= now else None


def record_of(settled: Settled | None) -> dict[str, Any]:
    """What a journal record keeps of the month's label, for `final_since` later."""
    if settled is None:
        return {}
    return {
        "settled": settled.label,
        "final_from": settled.final_from.isoformat() if settled.final_from else None,
        "data_settled": settled.data_settled,
    }


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
