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
    date (`final_from`, None: no source declares it), and whether a late change to it is held
    (not sent); `judged_at`, the clock it was judged by."""

    final: bool
    because: str
    final_from: datetime | None = None
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
        hold_late=settles.late_change == "hold",
    )
    if now < Month.parse(month).end:
        return declared(False, f"source {name}: {month} is not over")
    after = f"settles {counted(settles.after_days, 'day')} after the month"
    if waiting and settles.when is not None:
        column, values = settles.when.column, settles.when.values
        wanted = f"{column} {' or '.join(values)}" if values else column
        rows = f"{counted(waiting, 'row')} of {cbf.height:,} not yet with {wanted}"
        # Both unmet: no date is promised, since the rows may come later.
        early = f"{after} (not before {start:%Y-%m-%d}), and " if now < start else ""
        return declared(False, f"source {name}: {early}{rows}")
    if now < start:
        return declared(False, f"source {name}: {after}, final from {start:%Y-%m-%d}")
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
    decide it (the estimated ones, else all), then those final already; held late when any
    source holds."""
    final = all(p.final for p in parts)
    deciding = [p.because for p in parts if p.final == final]
    already = [p.because for p in parts if p.final != final]  # the final ones, beside
    because = "; ".join(deciding) + ("; final already: " + "; ".join(already) if already else "")
    dates = [p.final_from for p in parts if p.final_from is not None]
    return Settled(
        final,
        because,
        max(dates) if dates else None,
        any(p.hold_late for p in parts),
        now,
    )


def final_since(record: Mapping[str, Any], settled: Settled) -> str | None:
    """Since when CloudZero has held the month final as this adaptor left it (a journal
    record's `final_at`: the month was sent, or found unchanged, while it was final), if the
    month is also final by date under the rule in force now. None: CloudZero holds a month
    that was still settling (or no source declares `settles`), so a change is no late one."""
    if settled.final_from is None or settled.judged_at is None:
        return None
    if settled.judged_at < settled.final_from or not record.get("final_at"):
        return None
    return str(record["final_at"])[:10]


def record_of(settled: Settled | None) -> dict[str, Any]:
    """What a journal record keeps of the month's label (read by people and `final_since`)."""
    if settled is None:
        return {}
    return {"settled": settled.label, "settled_because": settled.because}


def declared_final(settled: Settled | None) -> bool:
    """A month final under a declared `settles` rule: the only kind a late change is judged for."""
    return settled is not None and settled.final and settled.final_from is not None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
