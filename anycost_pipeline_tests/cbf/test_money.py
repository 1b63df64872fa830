"""Money: exact decimals, every kind of bad value, rate cards, currency conversion, charge types."""

from decimal import Decimal

import pytest

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.errors import BadSourceData, MappingError
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.validation import cost_total
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame, total

AUG = Month(2024, 8)
COLUMNS = {"time/usage_start": "date", "cost/cost": "amount", "usage/amount": "qty"}


def _costs(amounts: list[str | None], **options: object) -> list[str | None]:
    n = len(amounts)
    frame = source_frame(date=["2024-08-16"] * n, amount=amounts, qty=["1"] * n)
    return run(frame, AUG, columns=COLUMNS, **options).cbf["cost/cost"].to_list()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("$12.00", "currency symbol"),
        ("€5", "currency symbol"),
        ("12.00 USD", "currency symbol or code"),
        ("1,200.00", "thousands separator"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("-Infinity", "not a number"),
        ("1e-05", "exponent notation"),
        ("1.5E3", "exponent notation"),
        ("12.0.1", "not a decimal number"),
        ("", "is missing"),
        ("NULL", "is missing"),
        (" ", "is missing"),
    ],
)
def test_every_bad_cost_kind_names_file_row_column_and_value(value: str, reason: str) -> None:
    with pytest.raises(BadSourceData) as caught:
        _costs(["1.00", value])
    assert f"export.csv, row 3, column 'amount': value {value!r}" in str(caught.value)
    assert reason in str(caught.value)
    assert caught.value.total == 1


def test_tolerated_forms_and_very_long_digits_stay_exact() -> None:
    long = (
        "123456789012345678901234567890.123456789012345678901"  # 51 digits, past 128-bit decimals
    )
    frame = source_frame(
        date=["2024-08-16"] * 5, amount=["+0.30", " 7 ", "-0.1", long, ".5"], qty=["1"] * 5
    )
    cbf = run(frame, AUG, columns=COLUMNS).cbf
    assert cbf["cost/cost"].to_list() == ["0.30", "7", "-0.1", long, "0.5"]
    assert (
        str(cost_total(cbf)) == "123456789012345678901234567897.823456789012345678901"
    )  # by hand: long + 7.70


def test_long_amounts_convert_and_spread_without_losing_a_digit() -> None:
    long = "98765432109876543210987654321.987654321"
    frame = source_frame(date=["2024-08-01"], amount=[long], qty=["1"])
    euro = run(
        frame, AUG, columns=COLUMNS, currency={"source": "EUR", "rates": {"2024-08": "1.5"}}
    ).cbf
    assert euro["cost/cost"].to_list() == ["148148148164814814816481481482.9814814815"]
    spread = run(frame, AUG, columns=COLUMNS, spread={"over": "month"}).cbf
    assert spread.height == 744 and cost_total(spread) == Decimal(long)


def test_missing_optional_decimal_is_empty_not_an_error() -> None:
    frame = source_frame(date=["2024-08-16", "2024-08-16"], amount=["1", "2"], qty=["NULL", ""])
    assert run(frame, AUG, columns=COLUMNS).cbf["usage/amount"].to_list() == [None, None]


def test_declared_exponent_notation_becomes_exact_plain_text() -> None:
    assert _costs(["1.81E-8", "2.5e3", "-4E-2"], exponent="allow") == [
        "0.0000000181",
        "2500",
        "-0.04",
    ]


def test_rate_card_prices_usage_exactly_per_service_and_period() -> None:
    card = {
        "quantity": "hours",
        "match": ["service", "kind"],
        "rates": [
            {"service": "vm", "kind": "small", "rate": "0.0416"},
            {"service": "vm", "kind": "small", "rate": "0.0400", "from": "2024-08"},
            {"service": "db", "kind": "large", "rate": "1.25", "to": "2024-07"},
            {"service": "db", "kind": "large", "rate": "1.30", "from": "2024-08"},
        ],
    }
    columns = {"time/usage_start": "date", "resource/service": "service"}
    frame = source_frame(
        date=["2024-07-31", "2024-08-01", "2024-08-01"],
        service=["vm", "vm", "db"],
        kind=["small", "small", "large"],
        hours=["3.5", "3.5", "0.333"],
    )
    july = run(frame, Month(2024, 7), columns=columns, rate_card=card).cbf
    august = run(frame, AUG, columns=columns, rate_card=card).cbf
    assert july["cost/cost"].to_list() == ["0.14560"]  # 3.5 × 0.0416, every digit kept
    assert august["cost/cost"].to_list() == ["0.14000", "0.43290"]  # 3.5 × 0.0400, 0.333 × 1.30
    assert august["usage/amount"].to_list() == ["3.5", "0.333"]
    tiny = source_frame(date=["2024-08-01"], service=["vm"], kind=["small"], hours=["2.5E-3"])
    assert run(tiny, AUG, columns=columns, rate_card=card, exponent="allow").cbf[
        "cost/cost"
    ].to_list() == ["0.00010000"]
    missing = source_frame(date=["2024-08-01"], service=["gpu"], kind=["huge"], hours=["1"])
    with pytest.raises(
        BadSourceData,
        match="column 'service': value 'gpu': no rate in the rate card for service=gpu, kind=huge",
    ):
        run(missing, AUG, columns=columns, rate_card=card)


def test_currency_conversion_is_exact_and_recorded() -> None:
    frame = source_frame(
        date=["2024-08-01", "2024-08-02"], amount=["10.00", "-0.07"], qty=["1", "1"]
    )
    currency = {"source": "EUR", "rates": {"2024-08": "1.0842"}}
    done = run(frame, AUG, columns=COLUMNS, currency=currency)
    assert done.cbf["cost/cost"].to_list() == ["10.842000", "-0.075894"]
    assert done.notes["currency_rate"] == "1 EUR = 1.0842 USD (2024-08)"
    options = MappingOptions.model_validate({"columns": COLUMNS, "currency": currency})
    assert source_cost(frame, options, AUG)[0] == total(done.cbf["cost/cost"])
    with pytest.raises(MappingError, match="no EUR→USD rate for 2024-09"):
        run(
            source_frame(date=["2024-09-01"], amount=["1"], qty=["1"]),
            Month(2024, 9),
            columns=COLUMNS,
            currency=currency,
        )


def test_every_charge_kind_maps_to_a_line_item_type() -> None:
    kinds = [
        "usage",
        "Tax",
        "support",
        "purchase",
        "committed use purchase",
        "discount",
        "credit",
        "REFUND",
        "fee",
        "adjustment",
    ]
    n = len(kinds)
    frame = source_frame(date=["2024-08-01"] * n, amount=["1"] * n, qty=["1"] * n, kind=kinds)
    cbf = run(frame, AUG, columns={**COLUMNS, "lineitem/type": "kind"}).cbf
    assert cbf["lineitem/type"].to_list() == [
        "Usage",
        "Tax",
        "Support",
        "Purchase",
        "CommittedUsePurchase",
        "Discount",
        "Credit",
        "Credit",
        "Fee",
        "Adjustment",
    ]
    with pytest.raises(BadSourceData, match="value 'rebate': not a known charge type"):
        run(
            source_frame(date=["2024-08-01"], amount=["1"], qty=["1"], kind=["rebate"]),
            AUG,
            columns={**COLUMNS, "lineitem/type": "kind"},
        )


def test_cost_types_pass_through_when_the_source_has_them() -> None:
    frame = source_frame(
        date=["2024-08-01"],
        billed=["10"],
        net=["8.5"],
        amortised=["9"],
        net_amortised=["7.5"],
        list_price=["12"],
    )
    columns = {
        "time/usage_start": "date",
        "cost/cost": "billed",
        "cost/discounted_cost": "net",
        "cost/amortized_cost": "amortised",
        "cost/discounted_amortized_cost": "net_amortised",
        "cost/on_demand_cost": "list_price",
    }
    row = run(frame, AUG, columns=columns).cbf.drop("_source_file", "_source_row").to_dicts()[0]
    assert {k: v for k, v in row.items() if k.startswith("cost/")} == {
        "cost/cost": "10",
        "cost/discounted_cost": "8.5",
        "cost/amortized_cost": "9",
        "cost/discounted_amortized_cost": "7.5",
        "cost/on_demand_cost": "12",
    }


def test_rejected_rows_are_kept_with_reasons_and_counted() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 4, amount=["1.10", "$2", "3.30", "1e5"], qty=["1", "1", "x", "1"]
    )
    options = {"columns": COLUMNS, "on_bad_rows": "reject"}
    done = run(frame, AUG, **options)
    assert done.cbf["cost/cost"].to_list() == ["1.10"]
    assert done.rejects["_source_row"].to_list() == [3, 4, 5]
    assert "column 'amount': value '$2': has a currency symbol" in done.rejects["_reasons"][0]
    assert "column 'qty': value 'x'" in done.rejects["_reasons"][1]
    opts = MappingOptions.model_validate(options)
    stated, unreadable = source_cost(frame, opts, AUG)
    rejected, rejected_unreadable = source_cost(done.rejects, opts, AUG)
    assert stated == total(done.cbf["cost/cost"]) + rejected == Decimal("4.40")
    assert unreadable == rejected_unreadable == 2
