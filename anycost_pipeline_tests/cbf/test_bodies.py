"""Request bodies: exact JSON, at most the target size, cut only at hour boundaries."""

import json
from collections import Counter

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import MAX_BYTES, month_bodies


def _month(hours: int, rows_per_hour: int) -> pl.DataFrame:
    starts = [
        f"2024-08-{1 + h // 24:02d}T{h % 24:02d}:00:00Z"
        for h in range(hours)
        for _ in range(rows_per_hour)
    ]
    return pl.DataFrame(
        {
            "time/usage_start": starts,
            "cost/cost": [f"{i}.{i % 1000:03d}" for i in range(len(starts))],
            "resource/service": ["Compute"] * len(starts),
        }
    )


def _rows(bodies: list) -> list[dict]:
    return [row for b in bodies for row in json.loads(b.payload)["data"]]


def test_small_month_is_one_replace_drop() -> None:
    cbf = _month(3, 2)
    (body,) = month_bodies(cbf, "2024-08")
    decoded = json.loads(body.payload)
    assert decoded["month"] == "2024-08" and decoded["operation"] == "replace_drop"
    assert body.rows == 6 and len(decoded["data"]) == 6
    assert decoded["data"][0] == {
        "cost/cost": "0.000",
        "resource/service": "Compute",
        "time/usage_start": "2024-08-01T00:00:00Z",
    }


def test_large_month_is_cut_at_hours_under_the_target() -> None:
    cbf = _month(48, 50)
    bodies = month_bodies(cbf, "2024-08", target_bytes=20_000)
    assert len(bodies) > 3
    assert [b.operation for b in bodies] == ["replace_drop"] + ["replace_hourly"] * (
        len(bodies) - 1
    )
    assert all(len(b.payload) <= 20_000 for b in bodies)
    hours_per_body = [
        {r["time/usage_start"] for r in json.loads(b.payload)["data"]} for b in bodies
    ]
    for i, a in enumerate(hours_per_body):
        for b in hours_per_body[i + 1 :]:
            assert not a & b, "an hour was split across bodies"
    assert Counter(json.dumps(r, sort_keys=True) for r in _rows(bodies)) == Counter(
        json.dumps(r, sort_keys=True) for r in cbf.to_dicts()
    )


def test_an_hour_bigger_than_a_body_is_sent_as_replace_hourly_then_sum() -> None:
    cbf = pl.concat(
        [_month(1, 5), _month(2, 400).filter(pl.col("time/usage_start").str.contains("T01"))]
    )
    bodies = month_bodies(cbf, "2024-08", target_bytes=10_000)
    ops = [b.operation for b in bodies]
    assert ops[0] == "replace_drop" and ops[1] == "replace_hourly" and set(ops[2:]) == {"sum"}
    assert all(len(b.payload) <= 10_000 for b in bodies)
    assert len(_rows(bodies)) == cbf.height


def test_target_may_not_exceed_the_api_limit() -> None:
    with pytest.raises(ValueError, match="5,000,000"):
        month_bodies(_month(1, 1), "2024-08", target_bytes=MAX_BYTES + 1)


def test_special_characters_survive_as_json() -> None:
    cbf = pl.DataFrame(
        {
            "time/usage_start": ["2024-08-01T00:00:00Z"],
            "cost/cost": ["1"],
            "lineitem/description": ['a "quoted"\nline\\ é'],
        }
    )
    (body,) = month_bodies(cbf, "2024-08")
    assert json.loads(body.payload)["data"][0]["lineitem/description"] == 'a "quoted"\nline\\ é'


@pytest.mark.parametrize("operation", ["replace_hourly", "sum"])
def test_a_connection_may_choose_replace_hourly_or_sum(operation: str) -> None:
    bodies = month_bodies(_month(48, 50), "2024-08", operation=operation, target_bytes=20_000)
    assert len(bodies) > 1 and {b.operation for b in bodies} == {operation}


def test_an_oversize_first_hour_is_replace_drop_then_sum() -> None:
    cbf = pl.concat(
        [_month(1, 400), _month(3, 5).filter(pl.col("time/usage_start").str.contains("T02"))]
    )
    bodies = month_bodies(cbf, "2024-08", target_bytes=10_000)
    ops = [b.operation for b in bodies]
    assert ops[0] == "replace_drop" and set(ops[1:-1]) == {"sum"} and ops[-1] == "replace_hourly"
    assert all(len(b.payload) <= 10_000 for b in bodies) and len(_rows(bodies)) == cbf.height
