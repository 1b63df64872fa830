"""Small builders shared by the source tests."""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.mapping import rows_of_month, with_usage_hour
from anycost_pipeline.config import FilesSource, HttpSource, SqlSource
from anycost_pipeline.months import Month

COLUMNS = {"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"}


def files_source(path: str, **options: object) -> FilesSource:
    return FilesSource.model_validate(
        {"connection": "main", "path": path, "columns": COLUMNS, **options}
    )


def http_source(url: str, **options: object) -> HttpSource:
    return HttpSource.model_validate(
        {"connection": "main", "kind": "http", "url": url, "columns": COLUMNS, **options}
    )


def sql_source(url: str, query: str, **options: object) -> SqlSource:
    return SqlSource.model_validate(
        {
            "connection": "main",
            "kind": "sql",
            "url": url,
            "query": query,
            "columns": COLUMNS,
            **options,
        }
    )


def month_of(frame: pl.DataFrame, month: str, time_column: str = "date") -> pl.DataFrame:
    """The rows of a read frame that belong to the month, as the raw asset keeps them."""
    return rows_of_month(
        with_usage_hour(frame, "test", time_column, "UTC", None), Month.parse(month)
    )


def total(frame: pl.DataFrame, column: str = "cost") -> Decimal:
    return sum((Decimal(v) for v in frame.get_column(column).to_list()), Decimal(0))
