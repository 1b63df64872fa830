"""Spreading a charge over its hours: exact parts, deterministic remainders, the row limit."""

from decimal import Decimal

import polars as pl
import pytest

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.errors import MappingError
from anycost_pipeline.cbf.hours import charge_ends, rows_of_month, with_usage_hour
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.validation import source_rows_in
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame, total

COLUMNS = {"time/usage_start": "date", "cost/cost": "amount", "usage/amount": "qty"}


@pytest.mark.parametrize(("month", "hours"), [(Month(2024, 6), 720), (Month(2024, 7), 744)])
def test_monthly_fee_spreads_over_every_hour_exactly(month: Month, hours: int) -> None:
    frame = source_frame(date=[f"{month}-01"], amount=["100.00"], qty=["1"])
    cbf = run(frame, month, columns=COLUMNS, spread={"over": "month"}).cbf
    assert cbf.height == hours
    assert cbf["time/usage_start"].n_unique() == hours
    assert cbf["time/usage_start"].min() == f"{month}-01T00:00:00Z"
    assert total(cbf["cost/cost"]) == Decimal("100.00")
    assert total(cbf["usage/amount"]) == Decimal("1")
    parts = [Decimal(v) for v in cbf["cost/cost"].to_list()]
    assert max(parts) - min(parts) == Decimal("0.00000001")  # one unit of the last digit at most
    # Hour k gets floor(units·k/H) − floor(units·(k−1)/H), units = 10,000,000,000 (8 decimals).
    assert parts[0] == Decimal(10_000_000_000 // hours) / 10**8
    assert run(frame, month, columns=COLUMNS, spread={"over": "month"}).cbf.equals(
        cbf
    )  # deterministic


def test_negative_credit_and_a_start_end_row_spread_exactly() -> None:
    frame = source_frame(
        date=["2024-08-10T06:00:00Z", "2024-08-30T00:00:00Z"],
        end=["2024-08-10T09:00:00Z", "2024-09-02T00:00:00Z"],
        amount=["-0.05", "1"],
        qty=["3", "1"],
    )
    cbf = run(
        frame, Month(2024, 8), columns={**COLUMNS, "time/usage_end": "end"}, spread={"end": "end"}
    ).cbf
    first = cbf.filter(cbf["_source_row"] == 2)
    # floor(-5,000,000·k/3) differences: -1666667, -1666667, -1666666 units of 1e-8
    assert first["cost/cost"].to_list() == ["-0.01666667", "-0.01666667", "-0.01666666"]
    assert first["time/usage_end"].to_list() == [
        "2024-08-10T07:00:00Z",
        "2024-08-10T08:00:00Z",
        "2024-08-10T09:00:00Z",
    ]
    # The second charge runs into September: August holds its 48 hours of the 72, September
    # the other 24 (1 in units of 0.000001: 666,666 and 333,334), together exactly 1.
    second = cbf.filter(cbf["_source_row"] == 3)
    assert second.height == 48 and total(second["cost/cost"]) == Decimal("0.666666")
    assert total(cbf["cost/cost"]) == Decimal("0.616666")
    options = MappingOptions.model_validate(
        {"columns": {**COLUMNS, "time/usage_end": "end"}, "spread": {"end": "end"}}
    )
    framed = with_usage_hour(frame, "vendor", "date", "UTC", None)
    september = rows_of_month(framed, Month(2024, 9), charge_ends(framed, options))
    assert september.get_column("_source_row").to_list() == [3]
    rest = convert(september, "vendor", options, Month(2024, 9)).cbf
    assert rest.height == 24 and rest["time/usage_start"].min() == "2024-09-01T00:00:00Z"
    assert total(rest["cost/cost"]) == Decimal("0.333334")
    assert source_cost(september, options, Month(2024, 9))[0] == Decimal("0.333334")


def test_daily_spreading_in_a_local_zone_follows_the_23_hour_day() -> None:
    frame = source_frame(date=["2024-03-31", "2024-10-27"], amount=["23", "25"], qty=["1", "1"])
    for month, expected in [(Month(2024, 3), 23), (Month(2024, 10), 25)]:
        cbf = run(
            frame, month, columns=COLUMNS, timezone="Europe/Berlin", spread={"over": "day"}
        ).cbf
        assert cbf.height == expected
        assert set(cbf["cost/cost"].to_list()) == {"1"}


def test_spreading_to_days_makes_one_row_per_day() -> None:
    frame = source_frame(date=["2024-08-01"], amount=["31.00"], qty=["1"])
    cbf = run(frame, Month(2024, 8), columns=COLUMNS, spread={"over": "month", "to": "day"}).cbf
    assert cbf.height == 31
    assert cbf["time/usage_start"].to_list()[:2] == ["2024-08-01T00:00:00Z", "2024-08-02T00:00:00Z"]
    assert set(cbf["cost/cost"].to_list()) == {"1"}


def test_spreading_past_the_monthly_row_limit_fails_before_it_starts() -> None:
    n = 1345  # × 744 hours = 1,000,680 rows
    frame = source_frame(date=["2024-08-01"] * n, amount=["1"] * n, qty=["1"] * n)
    with pytest.raises(
        MappingError,
        match=r"source 'vendor': spreading to hours makes 1,000,680 rows for 2024-08, 680 more than .*1,000,000.*spread to days",
    ):
        run(frame, Month(2024, 8), columns=COLUMNS, spread={"over": "month"})


def test_the_row_limit_is_the_configured_one() -> None:
    frame = source_frame(date=["2024-08-01", "2024-08-01"], amount=["1", "2"], qty=["1", "1"])
    options = MappingOptions.model_validate({"columns": COLUMNS, "spread": {"over": "month"}})
    framed = with_usage_hour(frame, "vendor", "date", "UTC", None)
    with pytest.raises(
        MappingError,
        match=r"makes 1,488 rows for 2024-08, 488 more than CloudZero's limit of 1,000",
    ):
        convert(framed, "vendor", options, Month(2024, 8), rows_per_month=1_000)
    assert (
        convert(framed, "vendor", options, Month(2024, 8), rows_per_month=1_488).cbf.height == 1_488
    )


def test_spread_rows_count_once_as_source_rows() -> None:
    frame = source_frame(date=["2024-08-01", "2024-08-02"], amount=["31", "5"], qty=["1", "1"])
    cbf = run(frame, Month(2024, 8), columns=COLUMNS, spread={"over": "month", "to": "day"}).cbf
    assert cbf.height == 31 + 30
    assert source_rows_in(cbf) == 2
    other_file = cbf.head(3).with_columns(pl.lit("other.csv").alias("_source_file"))
    assert source_rows_in(pl.concat([cbf, other_file])) == 3
