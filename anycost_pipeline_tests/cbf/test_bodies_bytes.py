"""Bodies are exactly `row_json`'s rows joined by commas, whichever way they are cut."""

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import _measured_bodies, _planned_bodies, month_bodies, row_json

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


def _plain_month(hours: int, rows_per_hour: list[int]) -> pl.DataFrame:
    """Values that need no JSON escaping (non-ASCII included), hours of varying size."""
    rows = [(f"2024-08-{1 + h // 24:02d}T{h % 24:02d}:00:00Z", f"{h}.{i:04d}", ["é", "ü 😀", "", None, "x/y:z"][i % 5])
            for h in range(hours) for i in range(rows_per_hour[h % len(rows_per_hour)])]
    start, cost, text = zip(*rows)
    return pl.DataFrame({"time/usage_start": start, "cost/cost": cost, "resource/tag:team": text})


def _prepared(cbf: pl.DataFrame) -> tuple[pl.DataFrame, list]:
    names = sorted(cbf.columns)
    return cbf.select(pl.col(n).fill_null("") for n in names), cbf.get_column("time/usage_start").rle().struct.unnest().rows()


def _all_planned(prepared: pl.DataFrame, hours: list, operation: str, budget: int) -> list:
    """The planned bodies, asserting they hold the whole month (no body came out longer)."""
    planned = _planned_bodies(prepared, hours, "2024-08", operation, budget)
    assert planned is not None
    bodies, resume = planned
    assert resume == len(hours)
    return bodies


@pytest.mark.parametrize(("operation", "budget"), [("replace_drop", 5_000_000), ("replace_drop", 3_000), ("replace_hourly", 2_600), ("sum", 4_000)])
def test_bodies_planned_from_sizes_are_the_bodies_measured_while_writing(operation: str, budget: int) -> None:
    """Bodies are packed from predicted sizes and written two at a time; they must be byte for
    byte the bodies cut by writing hour after hour."""
    prepared, hours = _prepared(_plain_month(40, [3, 11, 1, 25]))
    planned = _all_planned(prepared, hours, operation, budget)
    measured = _measured_bodies(prepared, hours, "2024-08", operation, budget)
    assert planned == measured
    if budget < 5_000_000:
        assert len(planned) > 5


@pytest.mark.parametrize("operation", ["replace_drop", "replace_hourly"])
@pytest.mark.parametrize("row", [0, 17, 39])
def test_from_a_value_needing_escapes_on_the_measured_bodies_take_over(operation: str, row: int) -> None:
    """A quote makes its row's JSON longer than planned: the bodies before it are kept, and
    from the first hour of its body on the month is cut by measuring, as if measured throughout."""
    cbf = _plain_month(10, [4]).with_columns(  # 10 hours of 4 rows
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit('say "hi"')).otherwise("resource/tag:team").alias("resource/tag:team")
    )
    prepared, hours = _prepared(cbf)
    measured = _measured_bodies(prepared, hours, "2024-08", operation, 600)
    planned = _planned_bodies(prepared, hours, "2024-08", operation, 600)
    assert planned is not None
    kept, resume = planned
    assert all(b.first_hour == b.last_hour for b in measured)  # at this budget, one hour a body
    assert resume == len(kept) == row // 4 and kept == measured[:resume]  # earlier bodies kept as written
    bodies = month_bodies(cbf, "2024-08", operation=operation, target_bytes=600 + len('{"month":"2024-08","operation":"replace_hourly","data":[]}'))
    assert bodies == measured and len(bodies) > 3


def test_hours_that_fill_a_body_exactly_share_it_in_both_ways() -> None:
    cbf = _plain_month(12, [3, 5])
    prepared, hours = _prepared(cbf)
    sizes = (row_json(cbf).str.len_bytes() + 1).to_list()
    budget = sum(sizes[:8])  # the first two hours, to the byte
    planned = _all_planned(prepared, hours, "replace_drop", budget)
    assert planned[0].rows == 8
    assert planned == _measured_bodies(prepared, hours, "2024-08", "replace_drop", budget)


@pytest.mark.parametrize("piece_bytes", [1, 150, 1_000])
def test_bodies_written_in_many_pieces_are_the_bodies_measured(monkeypatch: pytest.MonkeyPatch, piece_bytes: int) -> None:
    """PIECE_BYTES is 300 KB, so the other tests write every body in one polars call; here each
    body takes many, and every join between pieces must be a comma."""
    import anycost_pipeline.cbf.bodies as bodies

    monkeypatch.setattr(bodies, "PIECE_BYTES", piece_bytes)
    prepared, hours = _prepared(_plain_month(40, [3, 11, 1, 25]))
    for budget in (3_000, 5_000_000):
        planned = _all_planned(prepared, hours, "replace_drop", budget)
        assert planned == _measured_bodies(prepared, hours, "2024-08", "replace_drop", budget)


def test_a_null_hour_is_named_the_same_in_both_ways() -> None:
    cbf = pl.DataFrame({"time/usage_start": [None, None, "2024-08-01T01:00:00Z"], "cost/cost": ["1", "2", "3"]})
    prepared, hours = _prepared(cbf)
    assert _all_planned(prepared, hours, "replace_drop", 80) == _measured_bodies(prepared, hours, "2024-08", "replace_drop", 80)


def test_a_categorical_column_is_written_as_before() -> None:
    cbf = _plain_month(3, [2]).with_columns(pl.col("resource/tag:team").cast(pl.Categorical))
    bodies = month_bodies(cbf, "2024-08")
    assert bodies[0].payload == month_bodies(cbf.with_columns(pl.col("resource/tag:team").cast(pl.String)), "2024-08")[0].payload
