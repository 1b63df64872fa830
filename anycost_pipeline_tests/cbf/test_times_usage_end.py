"""`time/usage_end` before `time/usage_start` is a bad value, whatever the offsets the two are
written with: a row is rejected exactly when its end comes before its start."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUGUST = Month(2024, 8)
STARTS = st.datetimes(min_value=datetime(2024, 8, 1), max_value=datetime(2024, 8, 31, 23)).map(
    lambda d: d.replace(microsecond=0, tzinfo=timezone.utc)
)
GAPS = st.integers(min_value=-3 * 3600, max_value=3 * 3600).map(lambda s: timedelta(seconds=s))
OFFSETS = st.sampled_from([0, 60, -300, 330, 540]).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(STARTS, GAPS, OFFSETS, OFFSETS), min_size=1, max_size=20),
    spread=st.booleans(),
)
def test_a_row_is_rejected_exactly_when_it_ends_before_it_starts(
    rows: list[tuple[datetime, timedelta, timezone, timezone]], spread: bool
) -> None:
    frame = source_frame(
        start=[s.astimezone(a).isoformat() for s, _, a, _ in rows],
        end=[(s + g).astimezone(b).isoformat() for s, g, _, b in rows],
        amount=["1"] * len(rows),
    )
    columns = {"time/usage_start": "start", "time/usage_end": "end", "cost/cost": "amount"}
    done = run(
        frame,
        AUGUST,
        columns=columns,
        on_bad_rows="reject",
        **({"spread": {"end": "end"}} if spread else {}),
    )
    rejected = set(done.rejects.get_column("_source_row").to_list())
    assert rejected == {i + 2 for i, (_, gap, _, _) in enumerate(rows) if gap < timedelta(0)}
    reasons = done.rejects.get_column("_reasons").to_list()
    assert all(r.count("ends before the usage starts") == 1 for r in reasons)
