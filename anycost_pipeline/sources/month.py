"""One source's month as the source states it: read, placed in UTC hours, its rows kept.

What raw/<source> holds. Every record stays as the source wrote it; only the usage hour is
added, so the month's rows can be picked and the month's cost totalled.
"""

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.errors import SOURCE_FILE, raise_problems
from anycost_pipeline.cbf.hours import charge_ends, months_of, row_hours, rows_of_month
from anycost_pipeline.config import AnycostConfig, AnySource, FilesSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources import read_month
from anycost_pipeline.sources.batches import next_pull
from anycost_pipeline.sources.index import indexed_months
from anycost_pipeline.sources.reads import with_read
from anycost_pipeline.sources.restated import (
    EMPTY_DIGEST,
    load_digests,
    month_digest,
    save_digests,
)


@dataclass(frozen=True)
class RawMonth:
    """The month's records, the records without a readable time, and what the source holds."""

    rows: pl.DataFrame
    untimed: pl.DataFrame  # problems (file, row, column, value, reason): in no month at all
    months: list[str]  # every month the source holds rows for
    total: Decimal  # the month's cost in the source's own currency
    digest: str | None = None  # incremental sources: the month's records (see `restated`)
    read: int | None = None  # the read's number in the source's order (see `reads`)
    unreadable: int = 0  # rows whose cost cannot be read: `total` leaves them out

    @property
    def origins(self) -> list[str]:
        """The files (or URLs) the month's rows came from, sorted."""
        return sorted(self.rows.get_column(SOURCE_FILE).unique().to_list())


def read_raw_month(name: str, source: AnySource, project: AnycostConfig, month: Month) -> RawMonth:
    """Read the source for the month; a strict source with an unreadable time raises
    BadSourceData, a wrong setting or an unreachable source a reader's own error."""
    # Taken before reading: a read that starts later is newer, whichever finishes first.
    number = next_pull(project.storage_path, name)
    frame = read_month(name, source, project, month, number)
    frame, untimed = row_hours(frame, name, source)
    if source.on_bad_rows == "strict":
        raise_problems(name, untimed)
    # A spread charge belongs to every month its hours fall in (a local month of a vendor in
    # Tokyo starts in the UTC month before): keep the charges that run into this month too.
    ends = charge_ends(frame, source) if source.spread is not None else None
    rows = rows_of_month(frame, month, ends)
    # In the source's own currency: this layer shows the records as the files state them.
    mapping = project.mapping_of(name).model_copy(update={"currency": None})
    total, unreadable = source_cost(rows, mapping, month)
    months = months_of(frame, ends)
    if isinstance(source, FilesSource) and not source.incremental:
        # Only the files that can hold the month were read: the index knows the others' months.
        months = sorted(set(months) | set(indexed_months(project.storage_path, name, source)))
    digest = None
    if source.incremental:
        # Every pull so far, merged, states every month: keep what each month now holds, so
        # the months that a restated record left or joined can be sent again.
        digests = {m: month_digest(rows_of_month(frame, Month.parse(m), ends)) for m in months}
        # A month whose last record moved out holds nothing now: its digest changes to the
        # empty month's, so it is requested again and cleared, not forgotten.
        emptied = set(load_digests(project.storage_path, name)) - set(digests)
        digests.update(dict.fromkeys(emptied, EMPTY_DIGEST))
        digest = digests.get(str(month)) or month_digest(rows)
        save_digests(project.storage_path, name, digests)
    return RawMonth(with_read(rows, number), untimed, months, total, digest, number, unreadable)
