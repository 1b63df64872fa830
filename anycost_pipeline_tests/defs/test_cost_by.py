"""cost_by: the metadata table of exact cost per value, against a plain-Python reference."""

import re
from decimal import Decimal

import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.decimals import EXACT, MISSING
from anycost_pipeline.defs.metadata import cost_by

PLAIN = re.compile(r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$")
CANONICAL = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")


def reference(rows: list[tuple[str | None, str | None]]) -> list[tuple[str, int, Decimal]]:
    """(key, rows, exact total) per key in the order the table lists them; a cost that is not
    a plain decimal once trimmed (and without a leading +) counts as nothing."""
    found: dict[str | None, tuple[int, Decimal]] = {}
    for key, cost in rows:
        count, total = found.get(key, (0, Decimal(0)))
        text = None if cost is None else cost.strip()
        if text is not None and text not in MISSING:
            text = text.removeprefix("+")
            if PLAIN.match(text):
                total = EXACT.add(total, Decimal(text))
        found[key] = (count + 1, total)
    return sorted(((str(k), n, t) for k, (n, t) in found.items()), key=lambda r: r[0])


def table_rows(markdown: str) -> list[tuple[str, int, Decimal]]:
    lines = markdown.splitlines()[2:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return [(key, int(rows.replace(",", "")), Decimal(cost)) for key, rows, cost in cells]


COSTS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "NULL", "null", "None", "abc", "1e-05", "1,000.00", "$3", "+.5"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(lambda d: format(d, "f")),
    st.decimals(allow_nan=False, allow_infinity=False, places=30).map(lambda d: f" {d:f} "),
    st.sampled_from(["12.", ".5", "-.25", "0", "-0.000"]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["Compute", "Storage", "None", "ü"])), COSTS
        ),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
)
def test_cost_by_matches_plain_python(
    rows: list[tuple[str | None, str | None]], canonical: bool
) -> None:
    if canonical:  # half the examples hold only canonical text (or nothing): summed as it is
        rows = [(k, c if c is None or CANONICAL.match(c) else None) for k, c in rows]
    frame = pl.DataFrame(
        {"service": [k for k, _ in rows], "amount": [c for _, c in rows], "other": 1},
        schema={"service": pl.String, "amount": pl.String, "other": pl.Int64},
    )
    got = table_rows(cost_by(frame, "amount", "service", "service").value)
    expected = reference(rows)
    # "None" (the text) and a missing service both show as None: compare them as a multiset.
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert [k for k, _, _ in got] == sorted(k for k, _, _ in got)


def test_cost_by_exact_table() -> None:
    frame = pl.DataFrame(
        {
            "lineitem/type": ["Usage", "Tax", "Usage", "Credit", "Usage"],
            "cost/cost": ["0.10", "1.005", "0.20", "-3", "1234567890123456789.000000000001"],
        }
    )
    assert cost_by(frame, "cost/cost", "lineitem/type", "line item type").value == (
        "| line item type | rows | cost |\n|---|---:|---:|\n"
        "| Credit | 1 | -3.00 |\n| Tax | 1 | 1.005 |\n"
        "| Usage | 3 | 1234567890123456789.300000000001 |"
    )


def test_cost_by_grouped_by_its_cost_column() -> None:
    frame = pl.DataFrame({"amount": ["1.5", "1.5", "2"]})
    assert cost_by(frame, "amount", "amount", "amount").value.splitlines()[2:] == [
        "| 1.5 | 2 | 3.00 |",
        "| 2 | 1 | 2.00 |",
    ]
