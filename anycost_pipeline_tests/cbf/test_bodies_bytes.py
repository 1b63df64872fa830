"""Bodies are exactly `row_json`'s rows joined by commas, whichever way they are cut."""

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import month_bodies, row_json

TRICKY = ['a "quoted" \\ back', "new\nline\ttab\r", "\x01\x1f control", "é ü 😀 \u2028", "", None, "x/y:z"]


def _month() -> pl.DataFrame:
    rows = [(f"2024-08-0{1 + h // 24}T{h % 24:02d}:00:00Z", f"{i}.5", TRICKY[i % len(TRICKY)])
            for h in range(30) for i in range(h * 7, h * 7 + (40 if h == 3 else 7))]
    start, cost, text = zip(*rows)
    # Reversed, so the month has to be put in time order first.
    return pl.DataFrame({"time/usage_start": start, "cost/cost": cost, "lineitem/description": text}).reverse()


@pytest.mark.parametrize(("operation", "target"), [("replace_drop", 5_000_000), ("replace_drop", 2_000), ("replace_hourly", 1_500), ("sum", 900)])
def test_bodies_are_row_json_joined(operation: str, target: int) -> None:
    cbf = _month()
    expected_rows = row_json(cbf.sort("time/usage_start", maintain_order=True)).to_list()
    bodies = month_bodies(cbf, "2024-08", operation=operation, target_bytes=target)
    position = 0
    for body in bodies:
        rows = expected_rows[position : position + body.rows]
        head = f'{{"month":"2024-08","operation":"{body.operation}","data":['
        assert body.payload == (head + ",".join(rows) + "]}").encode()
        assert len(body.payload) <= target
        position += body.rows
    assert position == cbf.height
    if target < 2_000:
        assert len(bodies) > 10  # the 40-row hour is cut into parts as well
