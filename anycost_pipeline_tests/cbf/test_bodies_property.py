"""Properties of request bodies over generated months: sparse columns, escapes, any target."""

import json
from collections import Counter, defaultdict
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import event, given, settings, strategies as st

from anycost_pipeline.cbf.bodies import (
    MAX_BYTES,
    OPERATIONS,
    REPLACE_DROP,
    REPLACE_HOURLY,
    SUM,
    month_bodies,
    row_json,
)

MONTH = "2024-08"
SPARSE = (
    "k8s/cluster",
    "lineitem/description",
    "lineitem/type",
    "resource/id",
    "resource/tag:env",
    "resource/tag:team",
    "usage/amount",
)
ESCAPES = ['"', "\\", "\n", "\x00", "\x1f", "\u2028", "é", "😀", '\\"', "/"]


def _envelope(operation: str) -> int:
    """The bytes of a body around its rows."""
    return len(f'{{"month":"{MONTH}","operation":"{operation}","data":[]}}')


values = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=8),
    st.lists(st.sampled_from(ESCAPES), min_size=1, max_size=4).map("".join),
)
decimals = st.builds(
    lambda units, places: format(Decimal(units).scaleb(-places), "f"),
    st.integers(-(10**12), 10**12),
    st.integers(0, 8),
)


@st.composite
def months(draw: st.DrawFn) -> pl.DataFrame:
    """A month of hourly rows in no particular order: a few hours, some with many rows, and
    optional columns that are null, empty or any text where a row has no value."""
    hours = draw(st.lists(st.integers(0, 31 * 24 - 1), min_size=1, max_size=12, unique=True))
    n = draw(st.integers(1, 150))
    starts = draw(st.lists(st.sampled_from(hours), min_size=n, max_size=n))
    columns: dict[str, list] = {
        "time/usage_start": [f"{MONTH}-{1 + h // 24:02d}T{h % 24:02d}:00:00Z" for h in starts],
        "cost/cost": draw(st.lists(decimals, min_size=n, max_size=n)),
        "_source_row": list(range(2, n + 2)),  # lineage, never sent
    }
    for name in draw(st.lists(st.sampled_from(SPARSE), unique=True)):
        columns[name] = draw(st.lists(values, min_size=n, max_size=n))
    return pl.DataFrame(columns, schema_overrides={c: pl.String for c in SPARSE})


def _sent_row(row: dict) -> dict:
    """A frame row as CloudZero should receive it: no lineage, no null or empty value."""
    return {k: v for k, v in row.items() if not k.startswith("_") and v not in (None, "")}


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True)


@settings(max_examples=200, deadline=None)
@given(
    cbf=months(),
    operation=st.sampled_from(OPERATIONS),
    target=st.one_of(st.integers(300, 4_000), st.integers(4_000, MAX_BYTES)),
)
def test_bodies_hold_the_month_exactly_within_the_target(
    cbf: pl.DataFrame, operation: str, target: int
) -> None:
    budget = target - _envelope(REPLACE_HOURLY)  # room for rows in any body
    hours = cbf["time/usage_start"].to_list()
    sizes = (row_json(cbf).str.len_bytes() + 1).to_list()  # each row and its comma
    if max(sizes) > budget:
        event("a row larger than a body")
        with pytest.raises(ValueError, match="larger than a whole request body"):
            month_bodies(cbf, MONTH, operation=operation, target_bytes=target)
        return
    hour_size: dict[str, int] = defaultdict(int)
    for hour, size in zip(hours, sizes):
        hour_size[hour] += size

    bodies = month_bodies(cbf, MONTH, operation=operation, target_bytes=target)
    decoded = [json.loads(b.payload) for b in bodies]
    rows = [row for d in decoded for row in d["data"]]

    assert all(len(b.payload) <= min(target, MAX_BYTES) for b in bodies)
    assert Counter(map(_key, rows)) == Counter(_key(_sent_row(r)) for r in cbf.to_dicts())
    assert all(isinstance(v, str) and v != "" for row in rows for v in row.values())
    assert sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0)) == sum(
        (Decimal(c) for c in cbf["cost/cost"]), Decimal(0)
    )

    in_bodies: dict[str, list[int]] = defaultdict(list)
    for index, (body, d) in enumerate(zip(bodies, decoded)):
        body_hours = [row["time/usage_start"] for row in d["data"]]
        assert d["month"] == MONTH and d["operation"] == body.operation
        assert body.rows == len(body_hours) > 0
        assert body_hours == sorted(body_hours)
        assert (body.first_hour, body.last_hour) == (body_hours[0], body_hours[-1])
        for hour in sorted(set(body_hours)):
            in_bodies[hour].append(index)
    event("one body" if len(bodies) == 1 else "several bodies")
    for hour, indexes in in_bodies.items():
        if len(indexes) > 1:  # only an hour too large for one body, over consecutive ones
            event("an hour over several bodies")
            assert hour_size[hour] > budget
            assert indexes == list(range(indexes[0], indexes[-1] + 1))
            assert all(bodies[i].first_hour == bodies[i].last_hour == hour for i in indexes)

    for index, body in enumerate(bodies):
        continues = index > 0 and body.first_hour == bodies[index - 1].last_hour
        if operation == SUM or continues:
            assert body.operation == SUM
        elif operation == REPLACE_DROP and index == 0:
            assert body.operation == REPLACE_DROP
        else:
            assert body.operation == REPLACE_HOURLY
        if index and not continues:
            # Greedy: the hour that opens this body did not fit in the one before, unless that
            # one was the last part of an hour too large for any body.
            before = bodies[index - 1]
            used = len(before.payload) - _envelope(before.operation) + 1  # its rows and commas
            assert (
                hour_size[before.last_hour] > budget or used + hour_size[body.first_hour] > budget
            )
    if operation == REPLACE_DROP:
        assert bodies[0].operation == REPLACE_DROP
