"""Reading CloudZero's answers in every form its API reference allows.

The reference (OpenAPI "CloudZero API V2 Resources") types `month` in the drop list and in the
create answer as an ISO 8601 date-time (`2024-08-01T00:00:00Z`, with or without fractions or an
offset), while its examples and the month path use `YYYY-MM`. It does not say whether the drop
list holds one entry per month or one per drop, so the client reads either: it picks the entry
of the drop it sent by drop id, else the newest entry of the month.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

_SHORT = re.compile(r"^(\d{4})-(\d{2})$")


class UnreadableMonth(ValueError):
    """A `month` in an answer that is no ISO 8601 month or date-time."""


def month_of(value: object) -> str:
    """`YYYY-MM` of a month as CloudZero answers it: `2024-08`, `2024-08-01`,
    `2024-08-01T00:00:00Z`, `2024-08-01T00:00:00.000Z`, `2024-08-01T00:00:00+00:00`, ...

    A date-time with an offset is taken in UTC (CloudZero's months are UTC months).
    """
    if not isinstance(value, str):
        raise UnreadableMonth(f"month {value!r} is not text")
    text = value.strip()
    short = _SHORT.match(text)
    if short:
        return f"{short[1]}-{short[2]}"
    try:
        # Python 3.11 reads Z, fractions of any length and offsets.
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableMonth(f"month {value!r} is not an ISO 8601 month or date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f"{moment.year:04d}-{moment.month:02d}"


@dataclass(frozen=True)
class ListedDrop:
    """One entry of CloudZero's drop list, its month as `YYYY-MM`."""

    drop_id: str
    month: str
    row_count: int


@dataclass(frozen=True)
class MonthListing:
    """What the drop list says of one month: its entries in the order listed, and ours."""

    month: str
    entries: tuple[ListedDrop, ...]
    ours: ListedDrop | None

    @property
    def per_drop(self) -> bool:
        """The list holds one entry per drop (several for the month), not one per month."""
        return len({e.drop_id for e in self.entries}) > 1

    def rows_of(self, drop_ids: list[str]) -> int:
        """The rows the month holds from a submission of these drops: a per-month list gives
        the month's rows, a per-drop list the sum over the submission's own drops."""
        if not self.per_drop:
            return self.ours.row_count if self.ours else 0
        return sum(e.row_count for e in self.entries if e.drop_id in set(drop_ids))

    def newer_than(self, drop_id: str) -> bool:
        """Whether a drop was listed for the month after `drop_id` (someone changed it since)."""
        ids = [e.drop_id for e in self.entries]
        return drop_id in ids and ids[-1] != drop_id


def listed_drops(listing: object) -> list[ListedDrop]:
    """The entries of a `billing_drops` answer; an entry without a readable month is skipped
    only if it names no month at all (an unreadable month is an error: it may be ours)."""
    if not isinstance(listing, list):
        raise UnreadableMonth(f"billing_drops is not a list: {type(listing).__name__}")
    drops = []
    for entry in listing:
        if not isinstance(entry, dict) or entry.get("month") is None:
            continue
        drops.append(
            ListedDrop(
                drop_id=str(entry.get("drop_id") or ""),
                month=month_of(entry["month"]),
                row_count=int(entry.get("row_count") or 0),
            )
        )
    return drops


def month_listing(listing: object, month: str, drop_id: str | None = None) -> MonthListing:
    """The month's entries, and the one that is ours: the entry with `drop_id` when given and
    listed, else the newest (last listed) entry of the month; None when the month is not listed
    or `drop_id` is given and not among its entries of a per-drop list."""
    entries = tuple(d for d in listed_drops(listing) if d.month == month)
    ours: ListedDrop | None = None
    if drop_id:
        ours = next((e for e in reversed(entries) if e.drop_id == drop_id), None)
    if ours is None and entries and not (drop_id and len({e.drop_id for e in entries}) > 1):
        ours = entries[-1]
    return MonthListing(month, entries, ours)
