"""Property: a month priced by a rate card and converted from another currency keeps its money
exact. For generated usage, rates and exchange rates, the CBF cost of every row is quantity ×
rate × exchange rate to the last digit, the month's total is their exact sum, and the
`cost_conserved` verdict agrees."""

from decimal import Decimal, localcontext
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from anycost_pipeline.cbf.hours import rows_of_month, with_usage_hour
from anycost_pipeline.cbf.validation import cost_total
from anycost_pipeline.cbf.verdicts import convert_and_check
from anycost_pipeline.config import FilesSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.files import read_csv_files

MONTH = Month.parse("2024-08")


def _decimal(low: int, high: int, places: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda units, scale: format(Decimal(units).scaleb(-scale), "f"),
        st.integers(low, high),
        st.integers(0, places),
    )


usage = st.lists(
    st.tuples(st.integers(0, 743), st.sampled_from(["vm", "db"]), _decimal(0, 10**7, 6)),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=usage,
    vm=_decimal(1, 10**6, 8),
    db=_decimal(1, 10**6, 8),
    fx=_decimal(1, 10**5, 6),
)
def test_rate_card_and_currency_conserve_money_to_the_digit(
    tmp_path: Path, rows: list[tuple[int, str, str]], vm: str, db: str, fx: str
) -> None:
    export = tmp_path / "usage.csv"
    lines = ["time,service,hours"] + [
        f"2024-08-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,{service},{hours}"
        for h, service, hours in rows
    ]
    export.write_text("\n".join(lines) + "\n")
    source = FilesSource.model_validate(
        {
            "connection": "c",
            "path": str(export),
            "columns": {"time/usage_start": "time", "resource/service": "service"},
            "rate_card": {
                "quantity": "hours",
                "match": ["service"],
                "rates": [{"service": "vm", "rate": vm}, {"service": "db", "rate": db}],
            },
            "currency": {"source": "EUR", "target": "USD", "rates": {"2024-08": fx}},
        }
    )
    frame = with_usage_hour(read_csv_files("priced", str(export)), "priced", "time", "UTC", "iso")
    checked = convert_and_check(
        rows_of_month(frame, MONTH), "priced", source.mapping, MONTH, 1_000_000
    )
    rate = {"vm": Decimal(vm), "db": Decimal(db)}
    with localcontext(prec=200):  # the default context would round at 28 digits
        expected = sorted(Decimal(q) * rate[s] * Decimal(fx) for _, s, q in rows)
        total = sum(expected, Decimal(0))
    assert sorted(Decimal(c) for c in checked.cbf.get_column("cost/cost")) == expected
    assert cost_total(checked.cbf) == total
    assert checked.conservation.passed
