"""Request bodies: exact JSON, at most the target size, cut only at hour boundaries."""

import json
import os
import threading
import time
from collections import Counter

import polars as pl
import pytest

from anycost_pipeline.cbf.bodies import (
    MAX_BYTES,
    BodyChanged,
    RowTooLargeForBody,
    month_bodies,
    plan_bodies,
)


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


def _focus_like_month() -> pl.DataFrame:
    """Usage with quantities and tags beside a tax, a purchase and a credit that have neither,
    as a FOCUS export gives them (no ConsumedQuantity, tags only on some resources)."""
    return pl.DataFrame(
        {
            "time/usage_start": ["2024-08-01T00:00:00Z"] * 3 + ["2024-08-01T01:00:00Z"] * 3,
            "cost/cost": ["1.50", "0.25", "120.000000", "-3.5", "2.000", "0.1"],
            "lineitem/type": ["Usage", "Tax", "Purchase", "Credit", "Usage", "Usage"],
            "resource/id": ["vm-1", None, "", None, "vm-2", "vm-3"],
            "usage/amount": ["2.0", None, None, "", "1", "0.5"],
            "usage/units": ["Hours", None, None, None, "Hours", ""],
            "resource/tag:team": ["web", None, "", None, "", "data"],
            "resource/tag:env": [None, None, None, None, "prod", ""],
            "_source_file": ["focus.csv"] * 6,
            "_source_row": [2, 3, 4, 5, 6, 7],
        }
    )


def test_a_focus_like_month_leaves_absent_values_out_of_its_rows() -> None:
    (body,) = month_bodies(_focus_like_month(), "2024-08")
    assert json.loads(body.payload)["data"] == [
        {
            "cost/cost": "1.50",
            "lineitem/type": "Usage",
            "resource/id": "vm-1",
            "resource/tag:team": "web",
            "time/usage_start": "2024-08-01T00:00:00Z",
            "usage/amount": "2.0",
            "usage/units": "Hours",
        },
        {"cost/cost": "0.25", "lineitem/type": "Tax", "time/usage_start": "2024-08-01T00:00:00Z"},
        {
            "cost/cost": "120.000000",
            "lineitem/type": "Purchase",
            "time/usage_start": "2024-08-01T00:00:00Z",
        },
        {
            "cost/cost": "-3.5",
            "lineitem/type": "Credit",
            "time/usage_start": "2024-08-01T01:00:00Z",
        },
        {
            "cost/cost": "2.000",
            "lineitem/type": "Usage",
            "resource/id": "vm-2",
            "resource/tag:env": "prod",
            "time/usage_start": "2024-08-01T01:00:00Z",
            "usage/amount": "1",
            "usage/units": "Hours",
        },
        {
            "cost/cost": "0.1",
            "lineitem/type": "Usage",
            "resource/id": "vm-3",
            "resource/tag:team": "data",
            "time/usage_start": "2024-08-01T01:00:00Z",
            "usage/amount": "0.5",
        },
    ]
    assert b'""' not in body.payload  # no empty string anywhere, keys or values


@pytest.mark.parametrize(("operation", "target"), [("replace_drop", 260), ("sum", 330)])
def test_no_body_holds_an_empty_value_however_the_month_is_cut(operation: str, target: int) -> None:
    bodies = month_bodies(_focus_like_month(), "2024-08", operation=operation, target_bytes=target)
    assert len(bodies) > 2
    for body in bodies:
        for row in json.loads(body.payload)["data"]:
            assert all(isinstance(v, str) and v != "" for v in row.values()), row
    assert sum(b.rows for b in bodies) == 6


ESCAPED = [
    'say "hi"',
    "back\\slash \\\\ and \\u0041 as text",
    "".join(chr(c) for c in range(32)),  # every control character, NUL included
    "\x7f del",
    "line\u2028separator\u2029paragraph",
    "é ü ß 中文 עברית",
    "emoji 😀👍🏽 and a flag 🇩🇪",
    "</script>",
    "{not: json}",
    '","resource/id":"forged',
]


def test_values_needing_escapes_round_trip_exactly() -> None:
    n = len(ESCAPED)
    cbf = pl.DataFrame(
        {
            "time/usage_start": [f"2024-08-01T{h:02d}:00:00Z" for h in range(n)],
            "cost/cost": ["1"] * n,
            "resource/id": ["vm-1"] * n,
            "lineitem/description": ESCAPED,
            "resource/tag:note": list(reversed(ESCAPED)),
        }
    )
    for target in (5_000_000, 400):
        bodies = month_bodies(cbf, "2024-08", target_bytes=target)
        rows = _rows(bodies)
        assert [r["lineitem/description"] for r in rows] == ESCAPED
        assert [r["resource/tag:note"] for r in rows] == list(reversed(ESCAPED))
        assert all(r["resource/id"] == "vm-1" and len(r) == 5 for r in rows)
        assert all(len(b.payload) <= target for b in bodies)


def test_a_row_larger_than_a_body_is_refused() -> None:
    cbf = _month(2, 1).with_columns(pl.lit("x" * 500).alias("lineitem/description"))
    size = len(json.dumps(cbf.row(0, named=True), separators=(",", ":"))) + 1  # and its comma
    with pytest.raises(ValueError, match=f"its CBF row is {size} bytes, larger than a whole"):
        month_bodies(cbf, "2024-08", target_bytes=400)


def test_a_row_larger_than_a_body_names_its_file_row_and_largest_value() -> None:
    cbf = _month(2, 1).with_columns(
        pl.lit("x" * 500).alias("lineitem/description"),
        pl.lit("exports/a.csv").alias("_source_file"),
        pl.int_range(2, 4, dtype=pl.Int64).alias("_source_row"),
    )
    with pytest.raises(RowTooLargeForBody, match="^exports/a.csv, row 2: its CBF row is") as raised:
        month_bodies(cbf, "2024-08", target_bytes=400)
    assert raised.value.column == "lineitem/description" and raised.value.column_bytes == 500


def test_an_empty_month_is_one_replace_drop_without_rows() -> None:
    empty = _month(1, 1).clear()
    (body,) = month_bodies(empty, "2024-08", operation="replace_hourly")
    assert (body.operation, body.rows, body.first_hour) == ("replace_hourly", 0, "")
    (body,) = month_bodies(empty, "2024-08")
    assert json.loads(body.payload) == {"month": "2024-08", "operation": "replace_drop", "data": []}


def test_planned_bodies_are_read_back_as_planned_and_a_changed_one_is_refused() -> None:
    """Each body is built once, kept on disk and read back to be sent: the bytes read are the
    bytes hashed when it was planned, and bytes that changed in between are never handed out."""
    cbf = _month(48, 200)
    whole = month_bodies(cbf, "2024-08", target_bytes=100_000)
    planned = plan_bodies(cbf, "2024-08", target_bytes=100_000)
    assert len(planned) == len(whole) > 2
    assert [b.payload for b in planned] == [b.payload for b in whole]
    second = planned.planned[1]
    fd, at = planned._spool.fileno(), second.offset + second.bytes // 2
    os.pwrite(fd, b"1" if os.pread(fd, 1, at) == b"0" else b"0", at)
    assert planned[0].payload == whole[0].payload  # the others are untouched
    with pytest.raises(BodyChanged, match="body 2 of 2024-08"):
        planned[1]
    planned.close()
    with pytest.raises(ValueError):  # the file is gone with its bodies
        planned[0]


class _FullDisk:
    """A temporary file whose disk fills after `room` bytes; writes may be slow."""

    def __init__(self, room: int, seconds_per_write: float = 0.0) -> None:
        self.room, self.seconds_per_write = room, seconds_per_write
        self.closed, self.written, self.failed, self.after_failure = False, 0, False, 0

    def write(self, piece: bytes) -> int:
        time.sleep(self.seconds_per_write)
        if self.failed:
            self.after_failure += 1
        if self.written + len(piece) > self.room:
            self.failed = True
            raise OSError(28, "No space left on device")
        self.written += len(piece)
        return len(piece)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _keepers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("anycost-bodies")]


def _month_size() -> tuple[int, int]:
    """The test month's bytes in all, and its last body's."""
    bodies = month_bodies(_month(48, 200), "2024-08", target_bytes=100_000)
    return sum(len(b.payload) for b in bodies), len(bodies[-1].payload)


@pytest.mark.parametrize("room", ["none", "first body", "a middle body", "the last body"])
def test_a_disk_that_fills_while_bodies_are_kept_stops_the_plan_and_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch, room: str
) -> None:
    """Bodies are written on a thread of their own: a write that fails there, for the first
    body, a later one or the last, is raised by plan_bodies itself (delivery turns it into
    'nothing was sent'); nothing is written after it, the file is let go and the thread ends."""
    import anycost_pipeline.cbf.bodies as bodies

    total, last = _month_size()
    space = {
        "none": 0,
        "first body": 50_000,
        "a middle body": total // 2,
        "the last body": total - last // 2,
    }[room]
    disk = _FullDisk(space)
    monkeypatch.setattr(bodies.tempfile, "TemporaryFile", lambda: disk)
    with pytest.raises(OSError, match="No space left"):
        plan_bodies(_month(48, 200), "2024-08", target_bytes=100_000)
    assert disk.failed and disk.after_failure == 0
    assert disk.closed and not _keepers_alive()


def test_a_month_that_cannot_be_cut_while_a_body_is_being_written_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan stops on the calling thread (a row larger than a body) while the thread that
    keeps bodies is still writing one: the write ends, then the file goes and the thread too."""
    import anycost_pipeline.cbf.bodies as bodies

    cbf = _month(48, 200)
    huge = pl.DataFrame(
        {
            "time/usage_start": ["2024-08-02T23:00:00Z"],
            "cost/cost": ["1"],
            "resource/service": ["x" * 200_000],
        }
    )
    disk = _FullDisk(10**9, seconds_per_write=0.05)
    monkeypatch.setattr(bodies.tempfile, "TemporaryFile", lambda: disk)
    with pytest.raises(ValueError, match="larger than a whole request body"):
        plan_bodies(pl.concat([cbf, huge]), "2024-08", target_bytes=100_000)
    assert disk.written > 0 and not disk.failed  # bodies before the row were being written
    assert disk.closed and not _keepers_alive()
