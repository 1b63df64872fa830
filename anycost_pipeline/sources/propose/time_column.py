"""The usage-time column: a name that says so, values that all read as times, and their format."""

import re
from dataclasses import dataclass

import polars as pl

from anycost_pipeline.cbf.times import utc_time
from anycost_pipeline.sources.propose.evidence import data_columns, name_words, probe_values
from anycost_pipeline.sources.propose.sample import ProposalError

_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2}|UTC)\s*$")


# Time formats tried in order; the first that reads every value of a column wins. Day-first and
# month-first are told apart by a value whose first or second field is above 12.
_TIME_FORMATS = (
    "iso",
    "M/D/YYYY",
    "M/D/YY",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "D.M.YYYY",
    "epoch_seconds",
    "epoch_millis",
)
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/\d{2,4}")


@dataclass(frozen=True)
class TimeColumn:
    """The usage-time column, its `time_format` (None: ISO), whether it carries an offset."""

    column: str
    time_format: str | list[str] | None
    has_offset: bool
    note: str
    runner_up: str | None = None
    said: str = "time"  # the part of its name that says time


def _time_format(values: pl.Series) -> tuple[str | list[str] | None, str] | None:
    """The format that reads every value, and a note on how it was chosen; None if none does."""
    frame = values.to_frame("t")
    slash = values.str.extract_groups(_SLASH.pattern).struct.unnest().drop_nulls()
    day_first = bool(slash.height and (slash[:, 0].cast(pl.Int32) > 12).any())
    for fmt in _TIME_FORMATS:
        if fmt.startswith("%d/") and not day_first:
            continue
        if fmt in ("M/D/YYYY", "M/D/YY") and day_first:
            continue
        if fmt.startswith("epoch") and not values.str.contains(r"^\d{9,14}$").all():
            continue
        read = frame.select(utc_time(pl.col("t"), "UTC", fmt).is_not_null().all()).item()
        if not read:
            continue
        if fmt == "iso":
            return None, ""
        note = ""
        if fmt.startswith("M/D") and slash.height:
            note = (
                "month first (no value has a first field above 12; if the vendor writes the day "
                "first, use %d/%m/%Y)"
            )
        return fmt, note
    return None


_TIME_NAMES = ("usagestart", "periodstart", "start", "usagedate", "date", "time", "day", "hour")


def find_time(frame: pl.DataFrame) -> TimeColumn:
    """The column of usage start times: a name that says so, and values that all read as times."""
    candidates = []
    for column in data_columns(frame):
        words = name_words(column)
        rank = next((i for i, n in enumerate(_TIME_NAMES) if n in words), None)
        if rank is None or "end" in words.replace("spend", "") or "billingperiod" in words:
            continue
        values = probe_values(frame, column)
        if values.len() == 0 or values.str.contains(r"^-?\d+(\.\d+)?$").all() and rank > 4:
            continue
        found = _time_format(values)
        if found is not None:
            candidates.append((rank, column, found, values))
    if not candidates:
        raise ProposalError(
            "no column reads as the usage time (a name such as date, usage_start or time, with "
            "a date or date-time on every row); map time/usage_start by hand"
        )
    candidates.sort(key=lambda c: c[0])
    _, column, (fmt, note), values = candidates[0]
    has_offset = bool(values.str.contains(_OFFSET.pattern).all()) or str(fmt).startswith("epoch")
    runner_up = candidates[1][1] if len(candidates) > 1 else None
    return TimeColumn(column, fmt, has_offset, note, runner_up, _TIME_NAMES[candidates[0][0]])
