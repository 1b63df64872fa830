"""Figures print one way: costs with at least two places and never a digit lost; counts agree."""

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from anycost_pipeline.figures import counted, shown, signed


def test_costs_print_with_two_places_or_more() -> None:
    assert [shown(v) for v in ["-25", "97.8", "1200", "0.000123", "1033.51", "0", "1E+3"]] == [
        "-25.00",
        "97.80",
        "1200.00",
        "0.000123",
        "1033.51",
        "0.00",
        "1000.00",
    ]


@settings(deadline=None)  # a busy machine may stall one example past Hypothesis' 200 ms
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_a_shown_cost_is_the_same_amount(value: Decimal) -> None:
    text = shown(value)
    assert Decimal(text) == value
    assert "E" not in text and len(text.partition(".")[2]) >= 2


def test_changes_carry_their_sign() -> None:
    assert [signed(v) for v in ["100", "-25", "0", "0.000123"]] == [
        "+100.00",
        "-25.00",
        "0.00",
        "+0.000123",
    ]


def test_counts_agree_with_their_noun() -> None:
    assert counted(1, "row") == "1 row"
    assert counted(1250, "row") == "1,250 rows"
    assert counted(1, "body") == "1 body"
    assert counted(2, "body") == "2 bodies"
    assert counted(0, "hour") == "0 hours"
