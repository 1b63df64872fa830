"""The rows a send would drop that came from where nothing can be read now, counted as a
multiset (equal rows as many times as they occur), against collections.Counter."""

from collections import Counter
from decimal import Decimal

import polars as pl
from hypothesis import given, strategies as st

from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.gone_rows import missing_rows

Row = tuple[str, str | None]  # cost, service (None: no value)
rows = st.tuples(st.sampled_from(["1.00", "-2.50", "10.00"]), st.sampled_from(["A", "B", None]))


def _frame(found: list[tuple[Row, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            COST: [cost for (cost, _), _ in found],
            "resource/service": [service for (_, service), _ in found],
            SOURCE_FILE: [file for _, file in found],
        },
        schema={COST: pl.String, "resource/service": pl.String, SOURCE_FILE: pl.String},
    )


@given(
    sent=st.lists(st.tuples(rows, st.sampled_from(["gone.csv", "kept.csv"])), max_size=12),
    now=st.lists(rows, max_size=12),
)
def test_the_missing_rows_are_those_sent_from_gone_files_that_the_month_now_lacks(
    sent: list[tuple[Row, str]], now: list[Row]
) -> None:
    sent_frame = _frame(sent)
    candidates = sent_frame.filter(pl.col(SOURCE_FILE) == "gone.csv")
    now_frame = _frame([(row, "new.csv") for row in now])

    expected = (Counter(r for r, _ in sent) - Counter(now)) & Counter(
        r for r, f in sent if f == "gone.csv"
    )
    count, cost = missing_rows(candidates, sent_frame, now_frame)
    assert count == sum(expected.values())
    assert cost == sum((Decimal(c) * n for (c, _), n in expected.items()), Decimal(0))


def test_rows_present_again_under_another_file_are_not_missing() -> None:
    """A renamed month-to-date export: the gone file's rows are in the new one."""
    sent = _frame([(("10.00", "A"), "exp-0815.csv")])
    now = _frame([(("10.00", "A"), "exp-0816.csv"), (("5.00", "A"), "exp-0816.csv")])
    assert missing_rows(sent, sent, now) == (0, Decimal(0))
