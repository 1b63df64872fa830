"""Decimal columns worked out from source columns (`add`, `subtract`, `{abs: ...}`): exact past
28 digits, each operand checked like any cost, refused where a column cannot be a sum."""

import decimal
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.config import SourceConfig
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUG = Month(2024, 8)
BASE = {"time/usage_start": "date", "cost/cost": "cost"}
# The oracle: Python's Decimal with a context that never rounds, written here on its own.
NEVER_ROUNDS = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False, places=12).filter(
    lambda d: abs(d) < Decimal(10) ** 30
)


@given(st.lists(st.tuples(AMOUNTS, AMOUNTS, AMOUNTS), min_size=1, max_size=5))
def test_cost_minus_absolute_discount_plus_fee_is_exact(rows: list[tuple]) -> None:
    n = len(rows)
    frame = source_frame(
        date=["2024-08-16"] * n,
        cost=[format(c, "f") for c, _, _ in rows],
        discount=[format(d, "f") for _, d, _ in rows],
        fee=[format(f, "f") for _, _, f in rows],
    )
    spec = {"add": ["cost", "fee"], "subtract": [{"abs": "discount"}]}
    cbf = run(frame, AUG, columns={**BASE, "cost/discounted_cost": spec}).cbf
    for (cost, discount, fee), sent in zip(rows, cbf["cost/discounted_cost"].to_list()):
        with decimal.localcontext(NEVER_ROUNDS):
            expected = cost + fee - abs(discount)
        assert Decimal(sent) == expected
        assert "E" not in sent and "e" not in sent and sent != "-0"


def test_a_negation_and_long_values_keep_every_digit() -> None:
    long = "123456789012345678901234567890.123456789"
    frame = source_frame(date=["2024-08-16"] * 2, cost=[long, "5.00"], credit=[long, "0"])
    cbf = run(frame, AUG, columns={**BASE, "cost/amortized_cost": {"subtract": ["credit"]}}).cbf
    assert cbf["cost/amortized_cost"].to_list() == [f"-{long}", "0"]


def test_operands_are_read_with_the_columns_money_format() -> None:
    frame = source_frame(date=["2024-08-16"], cost=["10,00"], discount=["(1.000,50)"])
    spec = {
        "add": ["cost"],
        "subtract": [{"abs": "discount"}],
        "money_format": {"thousands": ".", "decimal": ",", "parentheses": True},
    }
    cbf = run(
        frame, AUG, columns={**BASE, "cost/discounted_cost": spec}, money_format={"decimal": ","}
    ).cbf
    assert cbf.select("cost/cost", "cost/discounted_cost").row(0) == ("10.00", "-990.50")


def test_bad_operands_are_kept_aside_with_their_reasons() -> None:
    frame = source_frame(
        date=["2024-08-16"] * 3, cost=["1", "2", "3"], discount=["0.5", "1e3", None]
    )
    spec = {"add": ["cost"], "subtract": ["discount"]}
    conversion = run(
        frame, AUG, columns={**BASE, "cost/discounted_cost": spec}, on_bad_rows="reject"
    )
    assert conversion.cbf["cost/discounted_cost"].to_list() == ["0.5"]
    reasons = conversion.rejects["_reasons"].to_list()
    assert "exponent notation" in reasons[0] and "is missing" in reasons[1]
    with pytest.raises(BadSourceData, match=r"row 3, column 'discount': value '1e3'"):
        run(frame, AUG, columns={**BASE, "cost/discounted_cost": spec})


def test_billed_cost_as_a_sum_is_summed_again_apart_for_cost_conserved() -> None:
    frame = source_frame(
        date=["2024-08-16"] * 4,
        cost=["10.25", "3", "(1,00)", "4"],
        discount=["-0.125", "1.5", "0", None],
    )
    spec = {"add": ["cost"], "subtract": [{"abs": "discount"}]}
    options = {"columns": {**BASE, "cost/cost": spec}, "on_bad_rows": "reject"}
    conversion = run(frame, AUG, **options)
    assert conversion.cbf["cost/cost"].to_list() == ["10.125", "1.5"]
    assert conversion.rejects.height == 2  # `(1,00)` is no plain decimal; a discount is missing
    mapping = MappingOptions.model_validate(options)
    assert source_cost(frame, mapping, AUG) == (Decimal("11.625"), 2)
    assert source_cost(conversion.rejects, mapping, AUG) == (Decimal(0), 2)
    zero = {**options, "columns": {**BASE, "cost/cost": {**spec, "empty": "zero"}}}
    assert source_cost(frame, MappingOptions.model_validate(zero), AUG) == (Decimal("15.625"), 1)


@pytest.mark.parametrize(
    ("column", "spec", "said"),
    [
        ("cost/cost", {"column": "a", "map": {"x": "1"}}, "or from a sum of columns"),
        ("resource/service", {"add": ["a"]}, "work out only the decimal columns"),
        ("usage/amount", {"add": []}, "give the columns to `add` and/or to `subtract`"),
        ("usage/amount", {"add": [{"abs": "a", "x": 1}]}, "x"),
    ],
)
def test_a_sum_where_none_can_be_is_refused_when_the_config_loads(
    column: str, spec: dict, said: str
) -> None:
    with pytest.raises(ValidationError, match=said):
        SourceConfig.model_validate(
            {
                "connection": "c",
                "columns": {"time/usage_start": "t", "cost/cost": "c", column: spec},
            }
        )
