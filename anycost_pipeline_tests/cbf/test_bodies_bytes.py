"""Bodies are exactly `row_json`'s rows joined by commas, whichever way they are cut."""

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


@pytest.fixture
def sized_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the bodies' sizes had to be measured from the rows' JSON: months without values
    that need escaping are cut from their values' lengths alone, and written once."""

    def measured(frame: pl.DataFrame) -> pl.Series:
        raise AssertionError("the rows' JSON was measured")

    monkeypatch.setattr(bodies, "row_json", measured)


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
def test_bodies_cut_from_value_lengths_are_the_greedy_packing_of_the_rows_json(
    sized_once: None, operation: str, budget: int
) -> None:
    """Bodies are packed from sizes worked out before writing and written two at a time; they
    must be byte for byte the greedy packing of the rows' own JSON (1,200 bytes splits hours)."""
    cbf = _plain_month(40, [3, 11, 1, 25])
    expected = _greedy(cbf, operation, budget)
    assert _bodies(cbf, operation, budget) == expected
    if budget < 4_900_000:
        assert len(expected) > 5


@pytest.mark.parametrize("operation", ["replace_drop", "replace_hourly"])
@pytest.mark.parametrize("row", [0, 17, 39])
def test_from_a_value_needing_escapes_on_the_rows_json_is_measured(
    monkeypatch: pytest.MonkeyPatch, operation: str, row: int
) -> None:
    """A quote makes its row's JSON longer than its values' lengths foretold: the bodies before
    it are kept as written, and from the first row of its body on the month is cut again from
    the rows' own JSON, as the greedy packing does."""
    cbf = _plain_month(10, [4]).with_columns(  # 10 hours of 4 rows
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit('say "hi"'))
        .otherwise("resource/tag:team")
        .alias("resource/tag:team")
    )
    expected = _greedy(cbf, operation, 600)
    assert all(
        first == last for _, _, _, first, last in expected
    )  # at this budget, one hour a body
    written: list[int] = []
    original = bodies._written

    def counting(prepared: pl.DataFrame, cuts: list, month: str) -> list:
        written.append(len(cuts))
        return original(prepared, cuts, month)

    monkeypatch.setattr(bodies, "_written", counting)
    assert _bodies(cbf, operation, 600) == expected
    assert written == [
        10,
        10 - row // 4,
    ]  # the bodies before the quote's hour were not written again


def test_hours_that_fill_a_body_exactly_share_it(sized_once: None) -> None:
    cbf = _plain_month(12, [3, 5])
    sizes = (row_json(cbf).str.len_bytes() + 1).to_list()
    budget = sum(sizes[:8])  # the first two hours, to the byte
    found = _bodies(cbf, "replace_drop", budget)
    assert found[0][2] == 8
    assert found == _greedy(cbf, "replace_drop", budget)


@pytest.mark.parametrize("piece_bytes", [1, 150, 1_000])
def test_bodies_written_in_many_pieces_are_the_same_bodies(
    sized_once: None, monkeypatch: pytest.MonkeyPatch, piece_bytes: int
) -> None:
    """PIECE_BYTES is 300 KB, so the other tests write every body in one polars call; here each
    body takes many, and every join between pieces must be a comma."""
    monkeypatch.setattr(bodies, "PIECE_BYTES", piece_bytes)
    cbf = _plain_month(40, [3, 11, 1, 25])
    for budget in (3_000, 4_900_000):
        assert _bodies(cbf, "replace_drop", budget) == _greedy(cbf, "replace_drop", budget)


def test_a_null_hour_is_named_as_an_empty_one(sized_once: None) -> None:
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
