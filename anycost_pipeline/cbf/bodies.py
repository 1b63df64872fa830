"""A month's CBF frame as AnyCost Stream request bodies, cut at hour boundaries.

CloudZero has no upload session, so a month too large for one body is sent as several:
the first `replace_drop` clears the month, later ones `replace_hourly` replace only their own
hours, and no hour is split across bodies, so any request repeated gives the same state. An
hour too large for one body alone is sent as `replace_hourly` followed by `sum` parts.

A row leaves out its empty values (null or ""): CloudZero's amount pattern refuses `""`, and
the whole body with it. Each row's JSON is built once, by polars, and the bodies are those
texts joined by commas: sizes are the texts' own lengths, so a body is never longer than its
cut foretold.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from anycost_pipeline.cbf.columns import USAGE_START

TARGET_BYTES = 4_500_000
MAX_BYTES = 5_000_000
CHUNK_ROWS = 20_000  # rows whose JSON polars builds at once (see `_hours`)
REPLACE_DROP = "replace_drop"
REPLACE_HOURLY = "replace_hourly"
SUM = "sum"
OPERATIONS = (REPLACE_DROP, REPLACE_HOURLY, SUM)

_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum)


@dataclass(frozen=True)
class RequestBody:
    """One request body, ready to send: the exact bytes, its operation and what it holds."""

    operation: str
    payload: bytes
    rows: int
    first_hour: str
    last_hour: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()


def _member(name: str, dtype: pl.DataType) -> pl.Expr:
    """`"name":value` as JSON text, or null where the row has no value (null or "")."""
    value = pl.col(name)
    present = value.is_not_null()
    if isinstance(dtype, _TEXT_TYPES):
        value = value.cast(pl.String)
        present &= value != ""
    # polars encodes (and escapes) `{"name":value}`; the member is that without its braces
    # (head and tail count characters, and each brace is one).
    encoded = pl.struct(value).struct.json_encode()
    return pl.when(present).then(encoded.str.head(-1).str.tail(-1)).alias(name)


def row_json(cbf: pl.DataFrame) -> pl.Series:
    """Each row's JSON exactly as a body holds it, in the frame's order: a compact object of
    its CBF columns in sorted order, lineage columns (`_*`) and empty values left out."""
    names = sorted(n for n in cbf.columns if not n.startswith("_"))
    if not names:
        return pl.repeat("{}", cbf.height, dtype=pl.String, eager=True).alias("json")
    # The members first, each a column of its own: polars builds those in parallel.
    members = cbf.select(_member(n, cbf.schema[n]) for n in names)
    joined = pl.concat_str(pl.all(), separator=",", ignore_nulls=True)
    return members.select(pl.concat_str(pl.lit("{"), joined, pl.lit("}")).alias("json")).to_series()


def _envelope(month: str, operation: str) -> tuple[bytes, bytes]:
    head = f'{{"month":"{month}","operation":"{operation}","data":['.encode()
    return head, b"]}"


def month_bodies(
    cbf: pl.DataFrame,
    month: str,
    *,
    operation: str = REPLACE_DROP,
    target_bytes: int = TARGET_BYTES,
) -> list[RequestBody]:
    """Cut the month into bodies of at most `target_bytes`.

    With `operation="replace_drop"` (the default) the bodies replace the whole month. With
    `replace_hourly` every body replaces only its hours; with `sum` every body appends.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r} is not one of {', '.join(OPERATIONS)}")
    if not 0 < target_bytes <= MAX_BYTES:
        raise ValueError(f"target_bytes must be between 1 and {MAX_BYTES:,}")
    if cbf.is_empty():
        op = _operation(operation, 0, False)
        head, tail = _envelope(month, op)
        return [RequestBody(op, head + tail, 0, "", "")]
    # Sources usually arrive in time order; sorting a sorted month would only copy it.
    ordered = cbf
    if not cbf.get_column(USAGE_START).is_sorted():
        ordered = cbf.sort(USAGE_START, maintain_order=True)
    budget = target_bytes - len(b"".join(_envelope(month, REPLACE_HOURLY)))
    bodies: list[RequestBody] = []

    def close(parts: list[pl.Series], first: str, last: str, continues_hour: bool = False) -> None:
        op = _operation(operation, len(bodies), continues_hour)
        head, tail = _envelope(month, op)
        data = pl.concat(parts, rechunk=False).str.join(",").cast(pl.Binary).item()
        rows = sum(part.len() for part in parts)
        bodies.append(RequestBody(op, head + data + tail, rows, first, last))

    # Whole hours packed greedily, in order, into the body being filled.
    filling: list[pl.Series] = []  # the JSON of its hours' rows
    used = 0  # their bytes, a comma after each row
    first = last = ""
    for hour, texts, sizes in _hours(ordered):
        size = sizes.sum()
        if filling and used + size > budget:
            close(filling, first, last)
            filling, used = [], 0
        if size <= budget:
            if not filling:
                first = hour
            filling.append(texts)
            used += size
            last = hour
            continue
        # The hour alone is too large: its rows over several bodies, the later ones `sum`.
        start = part = 0
        for row, row_size in enumerate(sizes.to_list()):
            if row_size > budget:
                raise ValueError(
                    f"one CBF row is {row_size:,} bytes, larger than a whole request body"
                )
            if part + row_size > budget:
                close([texts.slice(start, row - start)], hour, hour, continues_hour=start > 0)
                start, part = row, 0
            part += row_size
        close([texts.slice(start)], hour, hour, continues_hour=start > 0)
    if filling:
        close(filling, first, last)
    return bodies


def _hours(ordered: pl.DataFrame) -> Iterator[tuple[str, pl.Series, pl.Series]]:
    """Each hour of a month in time order, with its rows' JSON and their sizes in bytes (a
    comma after each row). The JSON is built for whole hours of about CHUNK_ROWS rows at a
    time, so that only a few hours' JSON is held beside the bodies."""
    runs = ordered.get_column(USAGE_START).rle().struct.unnest().rows()
    group: list[tuple[int, str | None]] = []
    start = rows = 0  # the group's first row in the month, and its rows
    for index, (n, hour) in enumerate(runs):
        group.append((n, hour))
        rows += n
        if rows < CHUNK_ROWS and index < len(runs) - 1:
            continue
        json = _built(ordered.slice(start, rows))
        sizes = json.str.len_bytes().cast(pl.Int64) + 1
        offset = 0
        for n, hour in group:
            # A null hour (which rows_valid refuses) is named as an empty one.
            yield hour or "", json.slice(offset, n), sizes.slice(offset, n)
            offset += n
        start, rows, group = start + rows, 0, []


def _built(rows: pl.DataFrame) -> pl.Series:
    """`row_json` of the rows, built CHUNK_ROWS at a time even within one large hour: polars
    needs several times the JSON's size while it builds it."""
    parts = [row_json(rows.slice(at, CHUNK_ROWS)) for at in range(0, rows.height, CHUNK_ROWS)]
    return pl.concat(parts, rechunk=False)


def _operation(requested: str, index: int, continues_hour: bool) -> str:
    if requested == SUM or continues_hour:
        return SUM
    if requested == REPLACE_DROP and index == 0:
        return REPLACE_DROP
    return REPLACE_HOURLY


def content_hash(bodies: list[RequestBody]) -> str:
    """One hash over every body of the month, in order."""
    digest = hashlib.sha256()
    for body in bodies:
        digest.update(body.payload)
    return digest.hexdigest()
