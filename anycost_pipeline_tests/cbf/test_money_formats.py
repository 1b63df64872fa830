"""Declared money formats: every amount written in a format reads back exactly; a value in
another format is refused (or kept aside as a reject), never read as something else."""

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from anycost_pipeline.cbf import decimals, money
from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.config import SourceConfig
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUG = Month(2024, 8)
COLUMNS = {"time/usage_start": "date", "cost/cost": "amount", "usage/amount": "qty"}

FORMATS = (
    st.tuples(
        st.sampled_from([[], ["$"], ["€", "EUR"], ["US$", "USD"], ["kr"]]),
        st.sampled_from([None, ",", ".", " ", "'", "\u00a0"]),
        st.sampled_from([".", ","]),
        st.booleans(),
    )
    .filter(lambda f: f[1] != f[2])
    .map(lambda f: MoneyFormat(symbols=f[0], thousands=f[1], decimal=f[2], parentheses=f[3]))
)


def _written(value: Decimal, fmt: MoneyFormat, symbol_first: bool, grouped: bool) -> str:
    """`value` as a vendor with format `fmt` writes it (an independent writer: Python's own
    grouping, then the separators swapped in)."""
    text = f"{abs(value):,f}" if grouped and fmt.thousands else f"{abs(value):f}"
    text = text.replace(",", "\0").replace(".", fmt.decimal).replace("\0", fmt.thousands or "")
    if fmt.symbols:
        text = f"{fmt.symbols[-1]}{text}" if symbol_first else f"{text} {fmt.symbols[0]}"
    if value < 0:
        text = f"({text})" if fmt.parentheses else f"-{text}"
    return text


def _read(values: list[str], fmt: MoneyFormat) -> list[str | None]:
    text = decimals.normalised(pl.col("v"))
    read = pl.when(money.fits(text, fmt)).then(decimals.canonical(money.plain_text(text, fmt)))
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(read).to_series().to_list()


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**15), max_value=10**15
    ),
    FORMATS,
    st.booleans(),
    st.booleans(),
)
def test_every_amount_written_in_the_declared_format_reads_back_exactly(
    value: Decimal, fmt: MoneyFormat, symbol_first: bool, grouped: bool
) -> None:
    written = _written(value, fmt, symbol_first, grouped)
    (read,) = _read([written], fmt)
    assert read is not None, written
    assert Decimal(read) == value, (written, read)
    assert decimals.is_canonical(pl.Series([read]))


@pytest.mark.parametrize(
    ("value", "decimal", "expected"),
    [
        ("($1,234.50)", ".", "-1234.50"),
        ("$(12)", ".", "-12"),
        ("(12,00) €", ",", "-12.00"),
        ("(€ 3)", ",", "-3"),
    ],
)
def test_parentheses_around_or_beside_the_symbol_are_a_minus(
    value: str, decimal: str, expected: str
) -> None:
    thousands = "," if decimal == "." else "."
    fmt = MoneyFormat(symbols=["$", "€"], thousands=thousands, decimal=decimal, parentheses=True)
    assert _read([value], fmt) == [expected]


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("1,234.56", MoneyFormat(thousands=".", decimal=",")),  # the other convention
        ("12.5", MoneyFormat(thousands=".", decimal=",")),  # not a group of three
        ("1.234,56", MoneyFormat(thousands=",")),
        ("(12.00)", MoneyFormat()),  # parentheses not declared
        ("-(12.00)", MoneyFormat(parentheses=True)),  # two signs
        ("$12.00", MoneyFormat(symbols=["€"])),  # another currency
        ("$12 USD", MoneyFormat(symbols=["$", "USD"])),  # two symbols
        ("1e-05", MoneyFormat()),
        ("NaN", MoneyFormat()),
        ("$", MoneyFormat(symbols="$")),
        ("12,34,567.00", MoneyFormat(thousands=",")),  # lakh grouping is not declared
    ],
)
def test_a_value_in_another_format_is_not_read(value: str, fmt: MoneyFormat) -> None:
    assert _read([value], fmt) == [None]
    frame = source_frame(date=["2024-08-16"], amount=[value], qty=["1"])
    options = {"columns": COLUMNS, "money_format": fmt.model_dump()}
    with pytest.raises(BadSourceData, match="does not fit the declared money format"):
        run(frame, AUG, **options)
    # Nor counted in the source's total: sent + rejected = source must hold for it too.
    stated = source_cost(frame, MappingOptions.model_validate(options), AUG)
    assert stated == (Decimal(0), 1)


def test_a_misfit_names_file_row_column_value_and_the_declared_format() -> None:
    frame = source_frame(date=["2024-08-16"] * 2, amount=["$1,200.00", "1.200,00"], qty=["1", "2"])
    with pytest.raises(BadSourceData) as caught:
        run(frame, AUG, columns=COLUMNS, money_format={"symbols": "$", "thousands": ","})
    assert caught.value.total == 1
    said = str(caught.value)
    assert "export.csv, row 3, column 'amount': value '1.200,00': does not fit" in said
    assert "thousands ','" in said and "e.g. $1,234.56" in said


def test_rejected_misfits_are_kept_aside_and_the_source_total_still_adds_up() -> None:
    frame = source_frame(
        date=["2024-08-16"] * 3, amount=["1.234,50", "(2,25)", "1,5 EUR"], qty=["1"] * 3
    )
    options = {
        "columns": COLUMNS,
        "money_format": {"thousands": ".", "decimal": ",", "parentheses": True},
        "on_bad_rows": "reject",
    }
    conversion = run(frame, AUG, **options)
    assert conversion.cbf["cost/cost"].to_list() == ["1234.50", "-2.25"]
    assert conversion.rejects.height == 1
    assert "does not fit the declared money format" in conversion.rejects["_reasons"][0]
    stated, unreadable = source_cost(frame, MappingOptions.model_validate(options), AUG)
    assert (stated, unreadable) == (Decimal("1232.25"), 1)


def test_a_column_format_wins_over_the_source_format() -> None:
    frame = source_frame(date=["2024-08-16"], amount=["1.234,50 €"], qty=["1,234.5"])
    conversion = run(
        frame,
        AUG,
        columns={**COLUMNS, "usage/amount": {"column": "qty", "money_format": {"thousands": ","}}},
        money_format={"symbols": "€", "thousands": ".", "decimal": ","},
    )
    assert conversion.cbf.select("cost/cost", "usage/amount").row(0) == ("1234.50", "1234.5")


@pytest.mark.parametrize(
    ("declared", "said"),
    [
        ({"thousands": ",", "decimal": ","}, "must differ"),
        ({"decimal": ";"}, 'the decimal separator is "." or ","'),
        ({"thousands": "1"}, "one character that is not a digit"),
        ({"thousands": ",,"}, "one character that is not a digit"),
        ({"symbols": ["kr."]}, "holds a separator"),
        ({"symbols": ["$", "-"]}, "without digits, signs"),
        ({"symbols": [" $"]}, "surrounding spaces"),
        ({"parenthesis": True}, "Extra inputs are not permitted"),
    ],
)
def test_a_format_that_cannot_be_read_one_way_is_refused(declared: dict, said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        MoneyFormat.model_validate(declared)


def test_money_format_on_a_column_that_holds_no_amount_is_refused() -> None:
    with pytest.raises(ValidationError, match="applies only to the decimal columns"):
        SourceConfig.model_validate(
            {
                "connection": "c",
                "columns": {
                    **COLUMNS,
                    "resource/service": {"column": "svc", "money_format": {"thousands": ","}},
                },
            }
        )
