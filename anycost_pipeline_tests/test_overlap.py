"""The overlap finder over generated months: every invoice two places share is reported once,
with each side's exact rows and cost, and nothing else is."""

from decimal import Decimal

import polars as pl
from hypothesis import given, strategies as st

from anycost_pipeline.config.overlap import OverlapConfig
from anycost_pipeline.overlap import SAME_INVOICE, find_overlaps

ROW = st.tuples(
    st.sampled_from(["INV-1", "INV-2", "INV-3", "INV-4", None]),
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False),
)


def _frame(rows: list[tuple[str | None, Decimal]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "time/usage_start": ["2024-08-01T00:00:00Z"] * len(rows),
            "cost/cost": [format(cost, "f") for _, cost in rows],
            "bill/invoice_id": [invoice for invoice, _ in rows],
        },
        schema={
            "time/usage_start": pl.String,
            "cost/cost": pl.String,
            "bill/invoice_id": pl.String,
        },
    )


def _by_invoice(rows: list[tuple[str | None, Decimal]]) -> dict[str, tuple[int, Decimal]]:
    found: dict[str, tuple[int, Decimal]] = {}
    for invoice, cost in rows:
        if invoice is not None:
            count, total = found.get(invoice, (0, Decimal(0)))
            found[invoice] = (count + 1, total + cost)
    return found


@given(st.lists(ROW, max_size=30), st.lists(ROW, max_size=30), st.booleans())
def test_every_shared_invoice_is_reported_with_exact_figures(
    a: list[tuple[str | None, Decimal]], b: list[tuple[str | None, Decimal]], other_connection: bool
) -> None:
    second = "connection other" if other_connection else "b"
    own = {"a": _frame(a)} | ({} if other_connection else {"b": _frame(b)})
    others = {second: _frame(b)} if other_connection else {}
    found = [f for f in find_overlaps(own, others, OverlapConfig()) if f.kind == SAME_INVOICE]

    in_a, in_b = _by_invoice(a), _by_invoice(b)
    assert sorted(f.key for f in found) == sorted(f"invoice {i}" for i in set(in_a) & set(in_b))
    for f in found:
        invoice = f.key.removeprefix("invoice ")
        assert (f.first, f.second) == ("a", second)
        assert f.rows == (in_a[invoice][0], in_b[invoice][0])
        assert f.cost == (in_a[invoice][1], in_b[invoice][1])

    allowed = OverlapConfig(allow=[{"sources": [second.removeprefix("connection "), "a"]}])
    assert not [f for f in find_overlaps(own, others, allowed) if f.kind == SAME_INVOICE]
