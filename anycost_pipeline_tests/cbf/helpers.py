"""Small builders shared by the mapping tests."""

from decimal import Decimal
from typing import Any

import polars as pl

from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.hours import with_usage_hour
from anycost_pipeline.cbf.mapping import Conversion, convert
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.months import Month


def source_frame(**columns: list) -> pl.DataFrame:
    """Source rows as the file reader gives them: text columns plus lineage."""
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            **{k: [None if v is None else str(v) for v in vs] for k, vs in columns.items()},
            "_source_file": ["export.csv"] * n,
            "_source_row": list(range(2, n + 2)),
        },
        schema_overrides={"_source_row": pl.Int64, **{k: pl.String for k in columns}},
    )


def run(frame: pl.DataFrame, month: Month, **options: Any) -> Conversion:
    """with_usage_hour + the month's rows + convert, as the two assets do."""
    opts = MappingOptions.model_validate(options)
    time = opts.columns["time/usage_start"].column  # type: ignore[union-attr]
    framed = with_usage_hour(
        frame, "vendor", time, opts.timezone, opts.time_format, opts.ambiguous_time
    )
    rows = framed.filter((framed["_hour"] >= month.start) & (framed["_hour"] < month.end))
    return convert(rows, "vendor", opts, month)


def total(values: pl.Series) -> Decimal:
    """Exact sum (Python's default context would round to 28 digits)."""
    out = Decimal(0)
    for value in values.drop_nulls().to_list():
        out = EXACT.add(out, Decimal(value))
    return out
