"""The FOCUS preset: official FOCUS 1.0 sample and FOCUS 1.2 scenarios, converted with no hand mapping."""

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import month_bodies
from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.hours import rows_of_month, with_usage_hour
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.cbf.validation import cost_total, row_problems
from anycost_pipeline.config import FilesSource, SourceConfig
from anycost_pipeline.months import Month
from anycost_pipeline.sources.files import read_csv_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INVALID_TIME_FILES = {
    "commitment_discount_purchase_scenario_2.csv",
    "commitment_discount_purchase_scenario_3.csv",
}
FILES = sorted([*FIXTURES.glob("focus-1.0/*.csv"), *FIXTURES.glob("focus-1.2/*.csv")])


def _focus(**overrides: object) -> SourceConfig:
    return FilesSource.model_validate(
        {"connection": "c", "path": "x", "preset": "focus", "columns": {}, **overrides}
    )


def _convert_all(path: Path, source: SourceConfig) -> dict[str, pl.DataFrame]:
    frame = read_csv_files("focus", str(path))
    frame = with_usage_hour(frame, "focus", source.time_column, source.timezone, source.time_format)
    months = sorted({f"{h.year:04d}-{h.month:02d}" for h in frame["_hour"].to_list()})
    out = {}
    for month in map(Month.parse, months):
        cbf = convert(rows_of_month(frame, month), "focus", source.mapping, month).cbf
        assert row_problems(cbf, month).is_empty(), row_problems(cbf, month).head(5)
        out[str(month)] = cbf
    return out


def _billed_by_month(path: Path) -> dict[str, Decimal]:
    """BilledCost per month of ChargePeriodStart, read with the csv module and Decimal."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with path.open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if not any(row.values()):
                continue  # blank line
            start = row["ChargePeriodStart"]
            if "/" in start:  # M/D/YY
                m, _, y = start.split()[0].split("/")
                month = f"20{y[-2:]}-{int(m):02d}"
            else:
                month = start[:7]
            totals[month] += Decimal(row["BilledCost"])
    return dict(totals)


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name not in INVALID_TIME_FILES], ids=lambda p: p.name
)
def test_focus_file_converts_and_conserves_billed_cost(path: Path) -> None:
    converted = _convert_all(path, _focus())
    assert {m: cost_total(cbf) for m, cbf in converted.items()} == _billed_by_month(path)
    for cbf in converted.values():
        assert cost_total(cbf, "cost/discounted_cost") == cost_total(cbf)


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name not in INVALID_TIME_FILES], ids=lambda p: p.name
)
def test_focus_bodies_leave_empty_values_out(path: Path) -> None:
    """Purchases, taxes and credits have no ConsumedQuantity and most rows lack some tags: their
    rows go out without those keys, never with an empty value."""
    for month, cbf in _convert_all(path, _focus()).items():
        ordered = cbf.sort("time/usage_start", maintain_order=True)
        rows = [r for b in month_bodies(cbf, month) for r in json.loads(b.payload)["data"]]
        for row, source in zip(rows, ordered.iter_rows(named=True), strict=True):
            assert row == {
                k: v for k, v in source.items() if not k.startswith("_") and v not in (None, "")
            }


def test_focus_rows_without_a_quantity_have_no_usage_amount() -> None:
    cbf = _convert_all(FIXTURES / "focus-1.0" / "focus_sample.csv", _focus())["2024-09"]
    (body,) = month_bodies(cbf, "2024-09")
    rows = json.loads(body.payload)["data"]
    kinds = {row["lineitem/type"] for row in rows if "usage/amount" not in row}
    assert kinds >= {"Credit"} and cbf["usage/amount"].null_count() > 0
    assert sum("usage/amount" not in row for row in rows) == cbf["usage/amount"].null_count()
    assert b'""' not in body.payload


@pytest.mark.parametrize("name", sorted(INVALID_TIME_FILES))
def test_invalid_charge_period_end_is_reported(name: str) -> None:
    with pytest.raises(BadSourceData) as caught:
        _convert_all(FIXTURES / "focus-1.2" / name, _focus())
    assert f"{name}, row" in str(caught.value)
    assert "column 'ChargePeriodEnd': value '2023-02-01T30:00:00Z': not a timestamp" in str(
        caught.value
    )


def test_focus_1_0_sample_columns_types_and_tags() -> None:
    cbf = _convert_all(FIXTURES / "focus-1.0" / "focus_sample.csv", _focus())["2024-09"]
    assert cbf.height == 1000
    types = dict(cbf.group_by("lineitem/type").len().rows())
    assert types == {"Usage": 997, "Adjustment": 2, "Credit": 1}
    first = cbf.row(0, named=True)
    assert first["time/usage_start"] == "2024-09-18T22:00:00Z"
    assert first["resource/service"] == "Amazon Simple Queue Service"
    assert first["resource/region"] == "us-west-2"
    assert first["resource/account"] == "51738928782"
    assert first["action/usage_type"] == "G95FST5FTYV3JSRX"
    assert first["usage/amount"] == "2.000000000000000" and first["usage/units"] == "Requests"
    assert (
        first["resource/id"]
        == "Amazon-Simple-Queue-Service/arn:ats:sqs:us-test-2:347410479675:mibelllmel-i-032l64f2065481b12"
    )
    assert first["cost/on_demand_cost"] == "0.00000080000"
    assert "resource/tag:Cost_department" in cbf.columns and "resource/tag:_org" in cbf.columns
    assert not any(
        v == "NULL"
        for c in cbf.columns
        if not c.startswith("_")
        for v in cbf[c].drop_nulls().to_list()
    )


def test_commitment_scenarios_map_to_commitment_line_item_types() -> None:
    folder = FIXTURES / "focus-1.2"
    purchase = _convert_all(folder / "commitment_discount_purchase_scenario_1.csv", _focus())[
        "2023-01"
    ]
    assert purchase["lineitem/type"].to_list() == ["CommittedUsePurchase"]
    assert purchase["cost/amortized_cost"].to_list() == ["0.00"]
    unused = _convert_all(folder / "commitment_discount_usage_scenario_3.csv", _focus())["2023-01"]
    assert unused["lineitem/type"].to_list() == ["Usage", "CommittedUseVacancy"]
    tokens = _convert_all(folder / "virtual_currency_pricing_model_a1.csv", _focus())["2025-04"]
    assert tokens["lineitem/type"].to_list() == ["Purchase"]  # no commitment: a plain purchase


def test_any_preset_column_can_be_overridden_or_left_out() -> None:
    source = _focus(
        columns={"resource/service": "ServiceCategory", "usage/units": None},
        resource_id_encoding="none",
    )
    cbf = _convert_all(FIXTURES / "focus-1.0" / "focus_sample.csv", source)["2024-09"]
    assert cbf.row(0, named=True)["resource/service"] == "Integration"
    assert "usage/units" not in cbf.columns
    assert cbf.row(0, named=True)["resource/id"].startswith("arn:")


def test_the_focus_preset_reads_the_specifications_null_marker_as_empty(tmp_path: Path) -> None:
    """The FOCUS correction-handling scenario files write an empty value as `(null)`: it was
    sent as a resource id and a service named "(null)"."""
    path = tmp_path / "scenario.csv"
    path.write_text(
        "BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,"
        "EffectiveCost,ResourceId,ServiceName,SubAccountId\n"
        "2024-08-01T00:00:00Z,2024-08-05T00:00:00Z,2024-08-06T00:00:00Z,Usage,10.00,10.00,"
        "(null),(null),acct-1\n"
    )
    (cbf,) = _convert_all(path, _focus()).values()
    row = cbf.row(0, named=True)
    assert row.get("resource/id") in (None, "")
    assert row.get("resource/service") in (None, "")
    assert cost_total(cbf) == Decimal("10.00")
