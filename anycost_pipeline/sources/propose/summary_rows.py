"""Summary rows: a row that totals the others (a `Total` or `Grand total` label in a text
column, or a first or last row whose cost is the sum of all the others and that leaves blank
what every other row fills). Counted, it sends the
month twice; anycost.yaml has no key that drops rows, so the export must be cleaned."""

import re
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_ROW
from anycost_pipeline.sources.propose.choices import exact_values
from anycost_pipeline.sources.propose.evidence import data_columns, decimal_style, probe_values

_LABEL = re.compile(r"(?i)^\s*((grand|sub|invoice|bill|month|monthly)\s*)?(totals?|sum)\s*:?\s*$")


@dataclass(frozen=True)
class SummaryRow:
    """A row of the sample that sums others: its row in the file and what gives it away."""

    row: int
    why: str


def _row_numbers(frame: pl.DataFrame) -> list[int]:
    if SOURCE_ROW in frame.columns:
        return frame.get_column(SOURCE_ROW).cast(pl.Int64).to_list()
    return list(range(2, frame.height + 2))


def labelled_rows(frame: pl.DataFrame) -> list[SummaryRow]:
    """Rows with a total's label (`Total`, `Grand total`, `Sum`) in a text column."""
    rows = _row_numbers(frame)
    found: dict[int, SummaryRow] = {}
    for column in data_columns(frame):
        if decimal_style(probe_values(frame, column)) is not None:
            continue
        text = frame.get_column(column).cast(pl.String).fill_null("")
        for index in text.str.contains(_LABEL.pattern).arg_true().to_list():
            row = rows[index]
            found.setdefault(row, SummaryRow(row, f"{column} says {text[index].strip()!r}"))
    return sorted(found.values(), key=lambda r: r.row)


def _blank_where_others_are_filled(frame: pl.DataFrame, index: int) -> list[str]:
    """The columns every other row fills and this row leaves blank (a total has no service)."""
    blank = []
    for column in data_columns(frame):
        text = frame.get_column(column).cast(pl.String).str.strip_chars().fill_null("")
        filled = text != ""
        if not filled[index] and filled.sum() == frame.height - 1:
            blank.append(column)
    return blank


def sum_rows(frame: pl.DataFrame, cost: str) -> list[SummaryRow]:
    """A first or last row whose cost is the sum of every other row's (and not zero), and which
    leaves blank a column every other row fills: a row of totals, not a charge."""
    values = exact_values(frame, cost)
    if len(values) < 3:
        return []
    whole = sum((v for v in values if v is not None), Decimal(0))
    rows = _row_numbers(frame)
    found = []
    for index in sorted({0, len(values) - 1}):
        value = values[index]
        if value is None or value == 0 or value != whole - value:
            continue
        blank = _blank_where_others_are_filled(frame, index)
        if blank:
            found.append(
                SummaryRow(
                    rows[index],
                    f"its {cost}, {value}, is the sum of every other row's, and it leaves "
                    f"{', '.join(blank)} blank",
                )
            )
    return found


def without_rows(frame: pl.DataFrame, rows: list[SummaryRow]) -> pl.DataFrame:
    """The sample without the summary rows."""
    numbers = {r.row for r in rows}
    keep = [n not in numbers for n in _row_numbers(frame)]
    return frame.filter(pl.Series(keep, dtype=pl.Boolean))
