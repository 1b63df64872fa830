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
    # Sources usually arrive in time order; sorting a sorted month would only copy it.
    ordered = cbf
    if not cbf.get_column(USAGE_START).is_sorted():
        ordered = cbf.sort(USAGE_START, maintain_order=True)
    overhead = len(b"".join(_envelope(month, REPLACE_HOURLY)))
    builder = _Builder(month, operation, target_bytes - overhead)
    # The JSON is built a batch of whole hours at a time and turned into bodies straight away,
    # so the month's JSON never sits in memory twice (as rows and as bodies).
    hours = ordered.get_column(USAGE_START).rle().struct.unnest()
    batch_start = batch_rows = 0
    batch_hours: list[tuple[int, object]] = []
    for n, hour in hours.iter_rows():
        batch_hours.append((n, hour))
        batch_rows += n
        if batch_rows >= _BATCH_ROWS:
            builder.add(ordered.slice(batch_start, batch_rows), batch_hours)
            batch_start, batch_rows, batch_hours = batch_start + batch_rows, 0, []
    if batch_hours:
        builder.add(ordered.slice(batch_start, batch_rows), batch_hours)
    return builder.finish()


_BATCH_ROWS = 65_536


class _Builder:
    """Greedy packing of whole hours into bodies, fed one batch of hours at a time."""

    def __init__(self, month: str, operation: str, budget: int) -> None:
        self.month, self.operation, self.budget = month, operation, budget
        self.bodies: list[RequestBody] = []
        self.pieces: list[bytes] = []  # JSON of the open body, as comma-joined runs of rows
        self.rows = self.used = 0
        self.first_hour: object = None
        self.last_hour: object = None
        self._json = pl.Series(dtype=pl.String)
        self._start = 0

    def add(self, batch: pl.DataFrame, hours: list[tuple[int, object]]) -> None:
        self._json = row_json(batch)
        self._start = 0  # first row of the batch not yet copied into `pieces`
        sizes = (self._json.str.len_bytes().cast(pl.Int64) + 1).to_list()  # +1 for the comma
        position = 0
        for n, hour in hours:
            size = sum(sizes[position : position + n])
            if size > self.budget:
                if self.rows:
                    self._close(position, False)
                self._split_hour(sizes, position, n, hour)
            else:
                if self.used + size > self.budget and self.rows:
                    self._close(position, False)
                self._take(n, size, hour)
            position += n
        self._cut(position)

    def _take(self, n: int, size: int, hour: object) -> None:
        if not self.rows:
            self.first_hour = hour
        self.rows += n
        self.used += size
        self.last_hour = hour

    def _cut(self, stop: int) -> None:
        # One join per run of rows that ends in the same body: few, large copies.
        if stop > self._start:
            joined = self._json.slice(self._start, stop - self._start).str.join(",")
            self.pieces.append(joined.cast(pl.Binary).item())
        self._start = stop

    def _split_hour(self, sizes: list[int], start: int, n: int, hour: object) -> None:
        lo, used = start, 0
        for index in range(start, start + n):
            size = sizes[index]
            if size > self.budget:
                raise ValueError(f"one CBF row is {size:,} bytes, larger than a whole request body")
            if used + size > self.budget:
                self._take(index - lo, used, hour)
                self._close(index, lo > start)
                lo, used = index, 0
            used += size
        self._take(start + n - lo, used, hour)
        self._close(start + n, lo > start)

    def _close(self, stop: int, continues_hour: bool) -> None:
        """Close the open body at row `stop` of the current batch."""
        self._cut(stop)
        op = _operation(self.operation, len(self.bodies), continues_hour)
        head, tail = _envelope(self.month, op)
        payload = b"".join([head, b",".join(self.pieces), tail])
        first, last = self.first_hour or "", self.last_hour or ""
        self.bodies.append(RequestBody(op, payload, self.rows, first, last))  # type: ignore[arg-type]
        self.pieces, self.rows, self.used = [], 0, 0
        self.first_hour = self.last_hour = None

    def finish(self) -> list[RequestBody]:
        if self.rows or not self.bodies:
            self._close(self._start, False)
        return self.bodies


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
