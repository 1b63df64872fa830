"""Errors about source values, written for the person who owns the source file."""

from dataclasses import dataclass

import polars as pl

from anycost_pipeline.figures import counted

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
# The source a row of a connection's month came from (the month as sent, `delivery.combined`).
SOURCE_NAME = "_source"
LINEAGE_COLUMNS: tuple[str, ...] = (SOURCE_FILE, SOURCE_ROW)
MAX_LISTED = 10


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is, what it is, and why it is refused."""

    file: str
    row: int
    column: str
    value: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, column {self.column!r}: value {self.value!r}: {self.reason}"


class BadSourceData(ValueError):
    """A source holds values that cannot be converted; nothing was sent."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = problems
        self.total = total if total is not None else len(problems)
        listed = "\n  ".join(str(p) for p in problems[:MAX_LISTED])
        more = f"\n  ... and {self.total - MAX_LISTED} more" if self.total > MAX_LISTED else ""
        super().__init__(
            f"source {source!r}: {counted(self.total, 'bad value')}; fix the source or its mapping in "
            f"anycost.yaml, then rematerialise the month:\n  {listed}{more}"
        )


class MappingError(ValueError):
    """The mapping cannot be applied to this month as declared (not a single bad value)."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {message}")


PROBLEM_COLUMNS: tuple[str, ...] = (SOURCE_FILE, SOURCE_ROW, "column", "value", "reason")
PROBLEM_SCHEMA = {
    SOURCE_FILE: pl.String,
    SOURCE_ROW: pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


def problem_frame(
    frame: pl.DataFrame, bad: pl.Expr, column: str, reason: pl.Expr | str, value: pl.Expr
) -> pl.DataFrame:
    """Every row of `frame` where `bad` holds, as (file, row, column, value, reason)."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.filter(bad.fill_null(False)).select(
        pl.col(SOURCE_FILE).cast(pl.String),
        pl.col(SOURCE_ROW).cast(pl.Int64),
        pl.lit(column, dtype=pl.String).alias("column"),
        value.cast(pl.String).alias("value"),
        reason_expr.cast(pl.String).alias("reason"),
    )


def no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def raise_problems(source: str, problems: pl.DataFrame) -> None:
    """Raise BadSourceData listing the first problems, when there are any."""
    if problems.height:
        listed = [Problem(*row) for row in problems.head(MAX_LISTED).iter_rows()]
        raise BadSourceData(source, listed, problems.height)


def require_columns(frame: pl.DataFrame, source: str, names: list[str]) -> None:
    """Raise BadSourceData naming each of `names` the frame lacks, and the columns it has."""
    missing = sorted({n for n in names if n not in frame.columns})
    if missing:
        have = ", ".join(c for c in frame.columns if not c.startswith("_"))
        raise BadSourceData(
            source,
            [
                Problem("(every file)", 1, name, None, f"column not found; the source has: {have}")
                for name in missing
            ],
        )
