"""Source rows to CBF rows: renames, constants, value maps, UTC hours, exact decimals."""

from decimal import Decimal

import polars as pl
import pytest

from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.hours import rows_of_month, with_usage_hour
from anycost_pipeline.cbf.mapping import to_cbf
from anycost_pipeline.cbf.spec import Constant, FromColumn, Template
from anycost_pipeline.cbf.validation import cost_total, row_problems
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

SIMPLE_COLUMNS = {
    "time/usage_start": FromColumn(column="date"),
    "cost/cost": FromColumn(column="amount"),
    "resource/service": FromColumn(column="service"),
    "resource/account": FromColumn(column="account"),
    "lineitem/type": Constant(value="Usage"),
}


def _source(**columns: list) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            **{k: [None if v is None else str(v) for v in vs] for k, vs in columns.items()},
            "_source_file": ["export.csv"] * n,
            "_source_row": list(range(2, n + 2)),
        },
        schema_overrides={"_source_row": pl.Int64},
    )


def _convert(
    frame: pl.DataFrame, columns: dict = SIMPLE_COLUMNS, zone: str = "UTC", fmt: str | None = None
) -> pl.DataFrame:
    return to_cbf(with_usage_hour(frame, "vendor", "date", zone, fmt), "vendor", columns)


def _cbf_rows(cbf: pl.DataFrame) -> list[dict]:
    return cbf.select(c for c in cbf.columns if not c.startswith("_")).to_dicts()


def test_seed_record_becomes_exact_cbf() -> None:
    frame = _source(
        date=["2024-08-16"], service=["Compute"], amount=["12.00"], account=["prod-001"]
    )
    assert _cbf_rows(_convert(frame)) == [
        {
            "time/usage_start": "2024-08-16T00:00:00Z",
            "cost/cost": "12.00",
            "resource/service": "Compute",
            "resource/account": "prod-001",
            "lineitem/type": "Usage",
        }
    ]


def test_decimals_stay_exact_and_plain() -> None:
    amounts = ["0.1", "0.2", "+0.3", " 1234567890.123456789 ", "-3.5", ".5", "7."]
    frame = _source(date=["2024-08-16"] * 7, service=["S"] * 7, amount=amounts, account=["a"] * 7)
    cbf = _convert(frame)
    assert cbf["cost/cost"].to_list() == [
        "0.1",
        "0.2",
        "0.3",
        "1234567890.123456789",
        "-3.5",
        "0.5",
        "7",
    ]
    assert cost_total(cbf) == Decimal(
        "1234567894.723456789"
    )  # by hand: 0.6 + 1234567890.123456789 - 3.5 + 0.5 + 7
    assert cbf.schema["cost/cost"] == pl.String


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("$12.00", "currency symbol"),
        ("1,200.00", "thousands separator"),
        ("NaN", "not a number"),
        ("1e-05", "exponent notation"),
        ("twelve", "not a decimal number"),
        ("", "is missing"),
    ],
)
def test_bad_cost_names_file_row_column_and_value(value: str, reason: str) -> None:
    frame = _source(
        date=["2024-08-16", "2024-08-16"],
        service=["S", "S"],
        amount=["1.00", value],
        account=["a", "a"],
    )
    with pytest.raises(BadSourceData) as caught:
        _convert(frame)
    message = str(caught.value)
    assert "export.csv, row 3, column 'amount'" in message
    assert reason in message
    assert caught.value.total == 1


def test_unreadable_date_is_reported() -> None:
    frame = _source(
        date=["2024-08-16", "16/08/2024"], service=["S", "S"], amount=["1", "2"], account=["a", "a"]
    )
    with pytest.raises(
        BadSourceData, match=r"export.csv, row 3, column 'date': value '16/08/2024'"
    ):
        _convert(frame)


def test_time_zone_converts_to_utc_and_picks_the_month() -> None:
    # 00:30 on 1 Sept in Berlin (UTC+2) is 22:00 UTC on 31 August.
    frame = _source(
        date=["2024-09-01 00:30:00", "2024-09-01 02:00:00"],
        service=["S", "S"],
        amount=["1", "2"],
        account=["a", "a"],
    )
    hours = with_usage_hour(frame, "vendor", "date", "Europe/Berlin", None)
    august = rows_of_month(hours, Month(2024, 8))
    assert to_cbf(august, "vendor", SIMPLE_COLUMNS)["time/usage_start"].to_list() == [
        "2024-08-31T22:00:00Z"
    ]
    september = rows_of_month(hours, Month(2024, 9))
    assert to_cbf(september, "vendor", SIMPLE_COLUMNS)["time/usage_start"].to_list() == [
        "2024-09-01T00:00:00Z"
    ]


def test_value_map_template_and_unmapped_value() -> None:
    columns = {
        **SIMPLE_COLUMNS,
        "lineitem/type": FromColumn(column="kind", map={"usage": "Usage", "refund": "Credit"}),
        "resource/id": Template(template="acct-{account}/svc-{service}"),
    }
    frame = _source(
        date=["2024-08-01", "2024-08-01"],
        service=["S", "T"],
        amount=["1", "-1"],
        account=["a", "b"],
        kind=["usage", "refund"],
    )
    cbf = _convert(frame, columns)
    assert cbf["lineitem/type"].to_list() == ["Usage", "Credit"]
    # CloudZero cuts resource/id at its first "/": the service prefix keeps the id whole.
    assert cbf["resource/id"].to_list() == ["S/acct-a/svc-S", "T/acct-b/svc-T"]
    bad = _source(date=["2024-08-01"], service=["S"], amount=["1"], account=["a"], kind=["rebate"])
    with pytest.raises(
        BadSourceData, match="value 'rebate': not in the value map for lineitem/type"
    ):
        _convert(bad, columns)


def test_missing_source_column_lists_what_the_source_has() -> None:
    frame = _source(date=["2024-08-01"], service=["S"], cost=["1"], account=["a"])
    with pytest.raises(
        BadSourceData,
        match="column 'amount'.*column not found; the source has: date, service, cost, account",
    ):
        _convert(frame)


def test_validation_flags_rows_outside_the_month_and_unknown_types() -> None:
    frame = _source(
        date=["2024-08-01", "2024-09-01"], service=["S", "S"], amount=["1", "2"], account=["a", "a"]
    )
    cbf = _convert(frame).with_columns(pl.Series("lineitem/type", ["Usage", "Refund"]))
    problems = row_problems(cbf, Month(2024, 8))
    assert problems.select("_source_row", "column", "reason").rows() == [
        (3, "time/usage_start", "outside the month 2024-08"),
        (3, "lineitem/type", "not a CBF line item type"),
    ]


def test_the_line_item_type_note_names_each_value_and_how_it_was_typed() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 5,
        amount=["1", "2", "3", "4", "5"],
        category=["Purchase", "Purchase", "Usage", "usage", "Refund"],
        commitment=["cd-1", None, None, None, None],
        status=[None, None, "Unused", "Used", None],
    )
    done = run(
        frame,
        Month(2024, 8),
        columns={
            "time/usage_start": "date",
            "cost/cost": "amount",
            "lineitem/type": {
                "charge_category": "category",
                "commitment_id": "commitment",
                "commitment_status": "status",
            },
        },
    )
    assert done.notes["line_item_types"].splitlines() == [
        "'Purchase' → CommittedUsePurchase (Purchase, refined by the commitment columns): 1 row",
        "'Purchase' → Purchase: 1 row",
        "'Refund' → Credit (built-in vocabulary): 1 row",
        "'Usage' → CommittedUseVacancy (Usage, refined by the commitment columns): 1 row",
        "'usage' → Usage: 1 row",
    ]
    assert "_charge_source" not in done.cbf.columns
