"""Billing months: the unit CloudZero replaces and the unit of every partition."""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC, written YYYY-MM."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        """Read "YYYY-MM" (a partition key "YYYY-MM-DD" is accepted too)."""
        head = text[:7]
        if not _MONTH.match(head) or len(text) not in (7, 10):
            raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2024-08")
        return cls(int(head[:4]), int(head[5:7]))

    @property
    def start(self) -> datetime:
        """First instant of the month, UTC."""
        return datetime(self.year, self.month, 1, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        """First instant of the next month, UTC (exclusive end)."""
        return self.next().start

    @classmethod
    def current(cls) -> "Month":
        """This month, UTC: the last month a project's partitions reach."""
        now = datetime.now(timezone.utc)
        return cls(now.year, now.month)

    def next(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Month":
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
