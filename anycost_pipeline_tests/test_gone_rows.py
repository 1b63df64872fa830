"""The rows a send would drop that came from where nothing can be read now, counted as a
multiset (equal rows as many times as they occur), against collections.Counter."""

from collections import Counter
from decimal import Decimal

import polars as pl
from hypothesis import given, strategies as st

from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.gone_rows import missing, missing_rows

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
    """Rows are told apart by what they are (here the service), not their cost."""
    sent_frame = _frame(sent)
    candidates = sent_frame.filter(pl.col(SOURCE_FILE) == "gone.csv")
    now_frame = _frame([(row, "new.csv") for row in now])

    def what(row: Row) -> str | None:
        return row[1]

    short = (Counter(what(r) for r, _ in sent) - Counter(what(r) for r in now)) & Counter(
        what(r) for r, f in sent if f == "gone.csv"
    )
    # The first candidates of each kind are the ones counted (for their cost).
    taken: Counter = Counter()
    cost = Decimal(0)
    for row, file in sent:
        if file == "gone.csv" and taken[what(row)] < short[what(row)]:
            taken[what(row)] += 1
            cost += Decimal(row[0])
    assert missing_rows(candidates, sent_frame, now_frame) == (sum(short.values()), cost)


def test_rows_present_again_under_another_file_are_not_missing() -> None:
    """A renamed month-to-date export: the gone file's rows are in the new one, restated."""
    sent = _frame([(("10.00", "A"), "exp-0815.csv")])
    now = _frame([(("10.50", "A"), "exp-0816.csv"), (("5.00", "B"), "exp-0816.csv")])
    assert missing_rows(sent, sent, now) == (0, Decimal(0))


def test_a_column_only_one_frame_has_does_not_tell_rows_apart() -> None:
    """An export that gained a tag column holds the same rows."""
    sent = _frame([(("10.00", "A"), "old.csv")])
    now = _frame([(("10.00", "A"), "new.csv")]).with_columns(pl.lit("x").alias("resource/tag:team"))
    assert missing_rows(sent, sent, now) == (0, Decimal(0))


@given(
    sent=st.lists(st.tuples(rows, st.sampled_from(["gone.csv", "kept.csv"])), max_size=12),
    now=st.lists(rows, max_size=12),
)
def test_carrying_the_gone_rows_forward_again_carries_the_same_rows(
    sent: list[tuple[Row, str]], now: list[Row]
) -> None:
    """The month as sent with the gone rows carried, sent again while the sources are unchanged,
    carries exactly those rows again, in their order: the month stays unchanged, its cost is
    the sources' plus theirs, and no row is carried twice."""
    sent_frame = _frame(sent)
    now_frame = _frame([(row, "new.csv") for row in now])
    gone = pl.col(SOURCE_FILE) == "gone.csv"
    carried = missing(sent_frame.filter(gone), sent_frame, now_frame)
    month = pl.concat([now_frame, carried])
    assert month.height == len(now) + carried.height
    assert not (Counter(carried.rows()) - Counter(sent_frame.filter(gone).rows()))
    again = missing(month.filter(gone), month, now_frame)
    assert again.equals(carried)
