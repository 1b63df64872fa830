"""A month's CBF frame as AnyCost Stream request bodies, cut at hour boundaries.

CloudZero has no upload session, so a month too large for one body is sent as several:
the first `replace_drop` clears the month, later ones `replace_hourly` replace only their own
hours, and no hour is split across bodies, so any request repeated gives the same state. An
hour too large for one body alone is sent as `replace_hourly` followed by `sum` parts.
"""

import hashlib
from dataclasses import dataclass

import polars as pl

from anycost_pipeline.cbf.columns import USAGE_START

TARGET_BYTES = 4_500_000
MAX_BYTES = 5_000_000
REPLACE_DROP = "replace_drop"
REPLACE_HOURLY = "replace_hourly"
SUM = "sum"
OPERATIONS = (REPLACE_DROP, REPLACE_HOURLY, SUM)


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


def row_json(cbf: pl.DataFrame) -> pl.Series:
    """Each row as a compact JSON object over its CBF columns (lineage columns left out)."""
    names = sorted(c for c in cbf.columns if not c.startswith("_"))
    return cbf.select(
        pl.struct([pl.col(n).fill_null("") for n in names]).struct.json_encode().alias("json")
    ).to_series()


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
    ordered = cbf.sort(USAGE_START, maintain_order=True)
    rows = ordered.select(
        pl.col(USAGE_START).alias("hour"), row_json(ordered).alias("json")
    ).with_columns(size=pl.col("json").str.len_bytes() + 1)  # +1 for the comma
    overhead = len(b"".join(_envelope(month, REPLACE_HOURLY)))
    budget = target_bytes - overhead
    hours = rows.group_by("hour", maintain_order=True).agg(pl.len().alias("n"), pl.col("size").sum())

    # Plan slices of `rows` as (start, stop, continues_hour); a Python loop over hours only.
    slices: list[tuple[int, int, bool]] = []
    start = used = 0
    position = 0
    for n, size in hours.select("n", "size").iter_rows():
        if size > budget:
            if position > start:
                slices.append((start, position, False))
            slices.extend(_split_hour(rows, position, n, budget))
            position += n
            start, used = position, 0
            continue
        if used + size > budget and position > start:
            slices.append((start, position, False))
            start, used = position, 0
        used += size
        position += n
    if position > start or not slices:
        slices.append((start, position, False))

    bodies = []
    for index, (lo, hi, continues) in enumerate(slices):
        op = _operation(operation, index, continues)
        part = rows.slice(lo, hi - lo)
        head, tail = _envelope(month, op)
        data = part.get_column("json").str.join(",").item().encode() if hi > lo else b""
        hours_in = part.get_column("hour")
        bodies.append(
            RequestBody(
                op, head + data + tail, hi - lo,
                hours_in.first() or "", hours_in.last() or "",  # type: ignore[arg-type]
            )
        )
    return bodies


def _operation(requested: str, index: int, continues_hour: bool) -> str:
    if requested == SUM or continues_hour:
        return SUM
    if requested == REPLACE_DROP and index == 0:
        return REPLACE_DROP
    return REPLACE_HOURLY


def _split_hour(rows: pl.DataFrame, start: int, n: int, budget: int) -> list[tuple[int, int, bool]]:
    sizes = rows.get_column("size").slice(start, n).to_list()
    parts: list[tuple[int, int, bool]] = []
    lo, used = start, 0
    for offset, size in enumerate(sizes):
        if size > budget:
            raise ValueError(f"one CBF row is {size:,} bytes, larger than a whole request body")
        if used + size > budget:
            parts.append((lo, start + offset, lo > start))
            lo, used = start + offset, 0
        used += size
    parts.append((lo, start + n, lo > start))
    return parts


def content_hash(bodies: list[RequestBody]) -> str:
    """One hash over every body of the month, in order."""
    digest = hashlib.sha256()
    for body in bodies:
        digest.update(body.payload)
    return digest.hexdigest()
