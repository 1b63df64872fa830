"""How the mapping assistant tells the bill from the other numbers of an export: the rules by
column name, and generated exports (Hypothesis) where the bill is net of a discount or a total
with its tax, whatever the columns are called and in whatever order they come."""

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from anycost_pipeline.sources.propose import propose
from anycost_pipeline.sources.propose.cost_column import money_tier

BILLED, PLAIN, BEFORE, SET_ASIDE = 3, 2, 1, 0


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("net_amount", BILLED),
        ("BilledCost", BILLED),
        ("lineItem/UnblendedCost", BILLED),
        ("costInBillingCurrency", BILLED),
        ("Total", BILLED),
        ("Total (incl. tax)", BILLED),
        ("Extended Price", BILLED),
        ("Amount Due", BILLED),
        ("Cost (USD)", PLAIN),
        ("Amount", PLAIN),
        ("amount.value", PLAIN),
        ("Spend", PLAIN),
        ("gross_amount", BEFORE),
        ("Subtotal", BEFORE),
        ("ListCost", BEFORE),
        ("pricing/publicOnDemandCost", BEFORE),
        ("paygCostInBillingCurrency", BEFORE),
        ("Price", BEFORE),
        ("Unit Cost", SET_ASIDE),
        ("Unit Price", SET_ASIDE),
        ("lineItem/UnblendedRate", SET_ASIDE),
        ("applied_cost_per_quantity", SET_ASIDE),
        ("discount_amount", SET_ASIDE),
        ("Tax", SET_ASIDE),
        ("Cost Center", SET_ASIDE),
        ("Cost Code", SET_ASIDE),
        ("Invoice Amount Id", SET_ASIDE),
        ("lineItem/BlendedCost", SET_ASIDE),
        ("EffectiveCost", SET_ASIDE),
        ("ContractedCost", SET_ASIDE),
        ("lineItem/UsageAmount", SET_ASIDE),
        ("costInPricingCurrency", SET_ASIDE),
    ],
)
def test_a_column_s_name_ranks_it_as_the_bill_or_sets_it_aside(name: str, tier: int) -> None:
    ranked = money_tier(name)
    if tier == SET_ASIDE and ranked is None:
        return  # no money word at all (a rate, a tax): never a candidate either
    assert ranked is not None and ranked[0] == tier, ranked


@pytest.mark.parametrize("name", ["Invoice Number", "Service", "Quantity", "Date", "Account"])
def test_a_column_whose_name_says_nothing_of_money_is_not_a_candidate(name: str) -> None:
    assert money_tier(name) is None


CENTS = st.integers(min_value=0, max_value=1_000_000).map(lambda c: Decimal(c) / 100)


@st.composite
def discounted_rows(draw: st.DrawFn) -> list[tuple[Decimal, Decimal]]:
    rows = []
    for gross in draw(st.lists(CENTS, min_size=1, max_size=12)):
        share = draw(st.integers(min_value=0, max_value=100))
        discount = (gross * share / 100).quantize(Decimal("0.01"))
        rows.append((gross, discount))
    return rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=discounted_rows(),
    names=st.tuples(
        st.sampled_from(["gross_amount", "Gross Cost", "grossAmount"]),
        st.sampled_from(["discount_amount", "Discount", "discountAmount"]),
        st.sampled_from(["net_amount", "Net Cost", "netAmount"]),
    ),
    order=st.permutations(range(5)),
)
def test_the_bill_is_net_of_its_discount_whatever_the_names_and_order(
    rows: list[tuple[Decimal, Decimal]],
    names: tuple[str, str, str],
    order: list[int],
    tmp_path: Path,
) -> None:
    gross_name, discount_name, net_name = names
    header = ["date", "product", gross_name, discount_name, net_name]
    lines = [["2024-08-01", "actions", str(g), str(d), str(g - d)] for g, d in rows]
    path = tmp_path / "usage.csv"
    _write(path, [header[i] for i in order], [[line[i] for i in order] for line in lines])
    proposal, _ = propose(path, "usage", "main")
    choice = proposal.choice("cost/cost")
    assert choice is not None and choice.chosen.column == net_name and not choice.close
    assert choice.chosen.total == sum((g - d for g, d in rows), Decimal(0))
    assert choice.runner_up is not None and choice.runner_up.column == gross_name
    assert choice.runner_up.total == sum((g for g, _ in rows), Decimal(0))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(CENTS, CENTS), min_size=1, max_size=12),
    names=st.tuples(
        st.sampled_from(["Subtotal", "Sub Total", "subtotal_amount"]),
        st.sampled_from(["Tax", "VAT", "tax_amount"]),
        st.sampled_from(["Total", "Total Amount", "total_incl_tax"]),
    ),
    order=st.permutations(range(4)),
)
def test_the_bill_is_the_total_with_its_tax_whatever_the_names_and_order(
    rows: list[tuple[Decimal, Decimal]],
    names: tuple[str, str, str],
    order: list[int],
    tmp_path: Path,
) -> None:
    subtotal_name, tax_name, total_name = names
    header = ["Invoice Date", subtotal_name, tax_name, total_name]
    lines = [["2024-08-01", str(s), str(t), str(s + t)] for s, t in rows]
    path = tmp_path / "invoice.csv"
    _write(path, [header[i] for i in order], [[line[i] for i in order] for line in lines])
    proposal, _ = propose(path, "invoice", "main")
    choice = proposal.choice("cost/cost")
    assert choice is not None and choice.chosen.column == total_name and not choice.close
    assert choice.chosen.total == sum((s + t for s, t in rows), Decimal(0))
