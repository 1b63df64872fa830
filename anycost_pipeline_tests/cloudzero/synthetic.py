"""Synthetic CBF months for the acceptance tests, built with polars (fast at a million rows)."""

from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.bodies import row_json
from anycost_pipeline.cloudzero.sandbox import SandboxStore


def synthetic_month(rows: int, month: str = "2024-08", *, seed: int = 0) -> pl.DataFrame:
    """A CBF month of `rows` rows spread over its hours, with exact 6-decimal costs (some negative)."""
    year, number = (int(part) for part in month.split("-"))
    hours = (
        pl.datetime(year + number // 12, number % 12 + 1, 1) - pl.datetime(year, number, 1)
    ).dt.total_hours()
    i = pl.int_range(0, rows, eager=True).alias("i")
    micro = ((pl.col("i") * 7919 + seed) % 2_000_003) - 1_000_000  # micro-dollars, either sign
    return pl.DataFrame(i).select(
        (pl.datetime(year, number, 1, time_zone="UTC") + pl.duration(hours=pl.col("i") % hours))
        .dt.strftime("%Y-%m-%dT%H:00:00Z")
        .alias("time/usage_start"),
        pl.format(
            "{}{}.{}",
            pl.when(micro < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            micro.abs() // 1_000_000,
            (micro.abs() % 1_000_000).cast(pl.String).str.pad_start(6, "0"),
        ).alias("cost/cost"),
        pl.format("svc-{}", pl.col("i") % 17).alias("resource/service"),
        pl.format("acct-{}", pl.col("i") % 5).alias("resource/account"),
        pl.format("res-{}-{}", pl.col("i"), pl.lit(seed)).alias("resource/id"),
        pl.when(micro < 0).then(pl.lit("Credit")).otherwise(pl.lit("Usage")).alias("lineitem/type"),
    )


def held_rows(store: SandboxStore, connection_id: str, month: str) -> pl.Series:
    """What the sandbox holds for the month: one JSON text per row (sorted keys, compact)."""
    return pl.Series("row", store.month_row_texts(connection_id, month), dtype=pl.String)


def same_rows(held: pl.Series, frame: pl.DataFrame) -> bool:
    """The sandbox holds exactly the frame's rows as sent (empty values left out): the same
    multiset, compared as JSON texts."""
    sent = row_json(frame)
    return held.len() == sent.len() and held.sort().equals(sent.sort(), check_names=False)


def held_cost_total(held: pl.Series) -> Decimal:
    """The exact total of `cost/cost` over the held rows, read from their JSON text."""
    costs = held.str.extract(r'"cost/cost":"([^"]*)"', 1)
    assert costs.null_count() == 0, "a held row has no cost/cost"
    return decimals.exact_sum(costs)
