"""What the assistant shows for each CBF column: the column it chose, the runner-up, why, and
(for money) each one's total over the sample, so a wrong guess can be seen before it is sent."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

import polars as pl

from anycost_pipeline.sources.propose.evidence import NULL_WORDS


@dataclass(frozen=True)
class Candidate:
    """A source column that could fill a CBF column, and what speaks for it."""

    column: str
    why: str
    total: Decimal | None = None  # money only: the column's exact sum over the sample


@dataclass(frozen=True)
class Choice:
    """The column proposed for one CBF column, the runner-up, and whether the user must choose."""

    cbf: str
    chosen: Candidate
    runner_up: Candidate | None = None
    close: bool = False  # the two are too close to call: the user is asked to choose
    note: str = ""

    def ask(self) -> str:
        """The question put to the user when the two candidates are too close to call."""
        assert self.runner_up is not None
        return (
            f"CHOOSE {self.cbf}: {_named(self.chosen)} and {_named(self.runner_up)} are equally "
            f"likely; {self.chosen.column} is proposed, replace it if your invoice is "
            f"{self.runner_up.column}'s total{self.note and '; ' + self.note}"
        )


def _named(candidate: Candidate) -> str:
    total = "" if candidate.total is None else f" (total {candidate.total})"
    return f"{candidate.column}{total}"


def exact_total(frame: pl.DataFrame, column: str) -> Decimal | None:
    """The exact sum of a column's numbers (empty and null words skipped); None if one is not
    a plain decimal."""
    total = Decimal(0)
    with localcontext() as exact:
        exact.prec = 80
        for value in frame.get_column(column).cast(pl.String).to_list():
            text = (value or "").strip()
            if not text or text in NULL_WORDS:
                continue
            try:
                total += Decimal(text)
            except InvalidOperation:
                return None
    return total


def exact_values(frame: pl.DataFrame, column: str) -> list[Decimal | None]:
    """Each row's number in a column (None where empty or not a number)."""
    out: list[Decimal | None] = []
    for value in frame.get_column(column).cast(pl.String).to_list():
        text = (value or "").strip()
        try:
            out.append(None if not text or text in NULL_WORDS else Decimal(text))
        except InvalidOperation:
            out.append(None)
    return out
