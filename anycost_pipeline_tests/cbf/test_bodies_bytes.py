"""Bodies are exactly `row_json`'s rows joined by commas, whichever way they are cut."""

import json
from collections.abc import Callable

import polars as pl
import pytest

from anycost_pipeline.cbf import bodies
from anycost_pipeline.cbf.bodies import month_bodies, row_json

TRICKY = [
    'a "quoted" \\ back',
    "new\nline\ttab\r",
    "\x01\x1f control",
    "é ü 😀 \u2028",
    "",
    None,
    "x/y:z",
]


def _month() -> pl.DataFrame:
    rows = [
        (f"2024-08-0{1 + h // 24}T{h % 24:02d}:00:00Z", f"{i}.5", TRICKY[i % len(TRICKY)])
        for h in range(30)
        for i in range(h * 7, h * 7 + (40 if h == 3 else 7))
    ]
    start, cost, text = zip(*rows)
    # Reversed, so the month has to be put in time order first.
    return pl.DataFrame(
        {"time/usage_start": start, "cost/cost": cost, "lineitem/description": text}
    ).reverse()


@pytest.mark.parametrize(
    ("operation", "target"),
    [("replace_drop", 5_000_000), ("replace_drop", 2_000), ("replace_hourly", 1_500), ("sum", 900)],
)
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


def test_row_json_leaves_out_empty_values() -> None:
    cbf = _month()
    texts = cbf["lineitem/description"].to_list()
    for text, row in zip(texts, row_json(cbf).to_list()):
        decoded = json.loads(row)
        if text in ("", None):
            assert decoded.keys() == {"cost/cost", "time/usage_start"}
        else:
            assert decoded["lineitem/description"] == text
        assert list(decoded) == sorted(decoded)


def _plain_month(hours: int, rows_per_hour: list[int]) -> pl.DataFrame:
    """Values that need no JSON escaping (non-ASCII included), hours of varying size."""
    rows = [
        (
            f"2024-08-{1 + h // 24:02d}T{h % 24:02d}:00:00Z",
            f"{h}.{i:04d}",
            ["é", "ü 😀", "", None, "x/y:z"][i % 5],
        )
        for h in range(hours)
        for i in range(rows_per_hour[h % len(rows_per_hour)])
    ]
    start, cost, text = zip(*rows)
    return pl.DataFrame({"time/usage_start": start, "cost/cost": cost, "resource/tag:team": text})


ENVELOPE = len('{"month":"2024-08","operation":"replace_hourly","data":[]}')


def _greedy(cbf: pl.DataFrame, operation: str, budget: int) -> list[tuple]:
    """The bodies of the month by hand, from each row's own JSON: whole hours packed greedily
    into `budget` bytes of rows (a comma after each); an hour too large alone is cut by rows,
    its later parts `sum`. As (operation, payload, rows, first hour, last hour)."""
    ordered = cbf.sort("time/usage_start", maintain_order=True)
    rows = list(zip(ordered["time/usage_start"].to_list(), row_json(ordered).to_list()))
    hours: list[list] = []
    for hour, text in rows:
        if not hours or hours[-1][0] != hour:
            hours.append([hour, []])
        hours[-1][1].append(text)
    parts: list[
        tuple[list[str], object, object, bool]
    ] = []  # rows, first hour, last hour, later part of an hour
    open_rows: list[str] = []
    first = last = None
    for hour, texts in hours:
        size = sum(len(t.encode()) + 1 for t in texts)
        if open_rows and sum(len(t.encode()) + 1 for t in open_rows) + size > budget:
            parts.append((open_rows, first, last, False))
            open_rows = []
        if size > budget:
            chunk: list[str] = []
            for text in texts:
                if (
                    chunk
                    and sum(len(t.encode()) + 1 for t in chunk) + len(text.encode()) + 1 > budget
                ):
                    parts.append(
                        (
                            chunk,
                            hour,
                            hour,
                            len(parts) > 0 and parts[-1][1] == hour and parts[-1][2] == hour,
                        )
                    )
                    chunk = []
                chunk.append(text)
            parts.append(
                (
                    chunk,
                    hour,
                    hour,
                    len(parts) > 0 and parts[-1][1] == hour and parts[-1][2] == hour,
                )
            )
            continue
        if not open_rows:
            first = hour
        open_rows += texts
        last = hour
    if open_rows:
        parts.append((open_rows, first, last, False))
    out = []
    for index, (texts, first, last, later) in enumerate(parts):
        op = (
            "sum"
            if operation == "sum" or later
            else "replace_drop"
            if operation == "replace_drop" and index == 0
            else "replace_hourly"
        )
        payload = f'{{"month":"2024-08","operation":"{op}","data":[{",".join(texts)}]}}'.encode()
        out.append((op, payload, len(texts), first or "", last or ""))
    return out


def _bodies(cbf: pl.DataFrame, operation: str, budget: int) -> list[tuple]:
    return [
        (b.operation, b.payload, b.rows, b.first_hour, b.last_hour)
        for b in month_bodies(cbf, "2024-08", operation=operation, target_bytes=budget + ENVELOPE)
    ]


def _escaped_month(hours: int, rows_per_hour: list[int]) -> pl.DataFrame:
    """`_plain_month` with values that need JSON escaping in place of its tags."""
    plain = _plain_month(hours, rows_per_hour)
    tricky = pl.Series([TRICKY[i % len(TRICKY)] for i in range(plain.height)], dtype=pl.String)
    return plain.with_columns(tricky.alias("resource/tag:team"))


@pytest.mark.parametrize("make", [_plain_month, _escaped_month])
@pytest.mark.parametrize(
    ("operation", "budget"),
    [
        ("replace_drop", 4_900_000),
        ("replace_drop", 3_000),
        ("replace_hourly", 2_600),
        ("sum", 4_000),
        ("replace_drop", 1_200),
    ],
)
def test_bodies_are_the_greedy_packing_of_the_rows_json(
    make: Callable[[int, list[int]], pl.DataFrame], operation: str, budget: int
) -> None:
    """Byte for byte the greedy packing of the rows' own JSON, escaped values or not (1,200
    bytes splits hours)."""
    cbf = make(40, [3, 11, 1, 25])
    expected = _greedy(cbf, operation, budget)
    assert _bodies(cbf, operation, budget) == expected
    if budget < 4_900_000:
        assert len(expected) > 5


@pytest.mark.parametrize("chunk_rows", [1, 7, 30, 1_000_000])
def test_json_built_chunk_by_chunk_gives_the_same_bodies(
    monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    """The rows' JSON is built a few thousand rows at a time; where the chunks end (inside an
    hour, one too large for a body included, inside a body or at its edge) changes no byte."""
    monkeypatch.setattr(bodies, "CHUNK_ROWS", chunk_rows)
    cbf = _escaped_month(40, [3, 11, 1, 25])
    for budget in (1_200, 3_000, 4_900_000):
        assert _bodies(cbf, "replace_drop", budget) == _greedy(cbf, "replace_drop", budget)


def test_hours_that_fill_a_body_exactly_share_it() -> None:
    cbf = _plain_month(12, [3, 5])
    sizes = (row_json(cbf).str.len_bytes() + 1).to_list()
    budget = sum(sizes[:8])  # the first two hours, to the byte
    found = _bodies(cbf, "replace_drop", budget)
    assert found[0][2] == 8
    assert found == _greedy(cbf, "replace_drop", budget)


def test_a_null_hour_is_named_as_an_empty_one() -> None:
    cbf = pl.DataFrame(
        {"time/usage_start": [None, None, "2024-08-01T01:00:00Z"], "cost/cost": ["1", "2", "3"]}
    )
    found = _bodies(cbf, "replace_drop", 80)
    assert found == _greedy(cbf, "replace_drop", 80) and found[0][3] == ""


def test_a_categorical_column_is_written_as_text() -> None:
    cbf = _plain_month(3, [2]).with_columns(pl.col("resource/tag:team").cast(pl.Categorical))
    bodies_ = month_bodies(cbf, "2024-08")
    assert (
        bodies_[0].payload
        == month_bodies(cbf.with_columns(pl.col("resource/tag:team").cast(pl.String)), "2024-08")[
            0
        ].payload
    )


def test_a_frame_of_lineage_alone_gives_empty_objects() -> None:
    lineage = pl.DataFrame({"_source_file": ["x.csv", "x.csv"], "_source_row": [2, 3]})
    assert row_json(lineage).to_list() == ["{}", "{}"]
