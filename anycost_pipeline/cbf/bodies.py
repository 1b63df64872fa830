"""A month's CBF frame as AnyCost Stream request bodies, cut at hour boundaries.

CloudZero has no upload session, so a month too large for one body is sent as several:
the first `replace_drop` clears the month, later ones `replace_hourly` replace only their own
hours, and no hour is split across bodies, so any request repeated gives the same state. An
hour too large for one body alone is sent as `replace_hourly` followed by `sum` parts.

A row leaves out its empty values (null or ""): CloudZero's amount pattern refuses `""`, and
the whole body with it. Each row's JSON is built by polars (which escapes it), and a body is
its rows' JSON joined by commas in its envelope. `plan_bodies` goes through the month once:
it builds the JSON of a few hours at a time, packs those hours by their exact byte lengths into
the body being filled, and as that body closes hashes it and writes it to an unnamed temporary
file (on a thread of its own, while the next hours' JSON is built). So each body is built
once, the month's bodies are never all in memory, and the bytes sent are the bytes hashed (each
is checked against its hash when it is read back to be sent).
"""

import hashlib
import os
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import BinaryIO

import polars as pl

from anycost_pipeline.cbf.columns import USAGE_START
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW

TARGET_BYTES = 4_500_000
MAX_BYTES = 5_000_000
CHUNK_ROWS = 20_000  # rows whose JSON polars builds at once to measure them
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


@dataclass(frozen=True)
class Cut:
    """What one body holds of the month put in time order: its operation, its rows and its
    first and last hours."""

    operation: str
    rows: int
    first_hour: str
    last_hour: str


@dataclass(frozen=True)
class PlannedBody:
    """A body as planned: where it lies in the month, the size and SHA-256 of its exact bytes,
    and where those bytes are kept in the month's temporary file."""

    cut: Cut
    bytes: int
    sha256: str
    offset: int


class RowTooLargeForBody(ValueError):
    """One CBF row is larger than a whole request body, so no cut can send it; it carries where
    the row came from (`_source_file`, `_source_row`) and its largest value."""

    def __init__(self, size: int, budget: int, hour: str, row: dict[str, object]) -> None:
        self.size = size
        self.file = str(row[SOURCE_FILE]) if row.get(SOURCE_FILE) is not None else None
        self.row = row.get(SOURCE_ROW)
        values = {k: str(v) for k, v in row.items() if not k.startswith("_") and v is not None}
        self.column = max(values, key=lambda k: len(values[k].encode()), default=None)
        self.column_bytes = len(values[self.column].encode()) if self.column else 0
        where = f"{self.file}, row {self.row}" if self.file else f"a row of hour {hour}"
        super().__init__(
            f"{where}: its CBF row is {size:,} bytes, larger than a whole request body "
            f"({budget:,} bytes of rows)"
        )


class BodyChanged(RuntimeError):
    """A body read back to be sent is not the body that was planned and hashed."""


class MonthBodies(Sequence[RequestBody]):
    """A month's request bodies: each one's size and hash known up front, its bytes kept in an
    unnamed temporary file (on disk, not in memory) and read when it is asked for (`bodies[i]`,
    or one at a time by iterating), so that only the body in use is held. The file is removed
    by the system when it is closed: by `close()`, or when the bodies are no longer used."""

    def __init__(
        self, month: str, planned: list[PlannedBody], content_hash: str, spool: BinaryIO
    ) -> None:
        self.month = month
        self.planned: tuple[PlannedBody, ...] = tuple(planned)
        self.content_hash = content_hash  # every body's bytes, in order
        self._spool = spool
        self._closed = weakref.finalize(self, spool.close)

    def close(self) -> None:
        """Let the bodies' temporary file go (reading a body after this fails)."""
        self._closed()

    def __len__(self) -> int:
        return len(self.planned)

    def __getitem__(self, index: int) -> RequestBody:  # type: ignore[override]
        plan = self.planned[index]
        cut = plan.cut
        # pread leaves no file position behind, so bodies may be read from any thread.
        payload = os.pread(self._spool.fileno(), plan.bytes, plan.offset)
        if len(payload) != plan.bytes or hashlib.sha256(payload).hexdigest() != plan.sha256:
            raise BodyChanged(f"body {index + 1} of {self.month} is not the body planned")
        return RequestBody(cut.operation, payload, cut.rows, cut.first_hour, cut.last_hour)

    def __iter__(self) -> Iterator[RequestBody]:
        return (self[index] for index in range(len(self)))

    @property
    def rows(self) -> int:
        return sum(p.cut.rows for p in self.planned)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.planned)


def _joined(rows: list[pl.Series]) -> bytes:
    """The rows' JSON joined by commas: a body's bytes between its envelope's head and tail."""
    if not rows:
        return b""
    return pl.concat(rows, rechunk=False).str.join(",").cast(pl.Binary).item()


def plan_bodies(
    cbf: pl.DataFrame,
    month: str,
    *,
    operation: str = REPLACE_DROP,
    target_bytes: int = TARGET_BYTES,
) -> MonthBodies:
    """The month cut into bodies of at most `target_bytes`, each built once and kept on disk.

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
    budget = target_bytes - len(b"".join(_envelope(month, REPLACE_HOURLY)))
    planned: list[PlannedBody] = []  # their hashes come from the keeper, once it is done
    keeper = _Keeper(tempfile.TemporaryFile())  # noqa: SIM115 (MonthBodies closes it)

    def close(rows: list[pl.Series], first: str, last: str, continues_hour: bool) -> None:
        """Plan the body of `rows` (the JSON of the rows after the bodies planned so far) and
        hand its bytes to the keeper."""
        op = _operation(operation, len(planned), continues_hour)
        head, tail = _envelope(month, op)
        data = _joined(rows)
        keeper.keep((head, data, tail))
        offset = planned[-1].offset + planned[-1].bytes if planned else 0
        cut = Cut(op, sum(len(r) for r in rows), first, last)
        size = len(head) + len(data) + len(tail)
        planned.append(PlannedBody(cut, size, "", offset))

    try:
        _pack(ordered, budget, close)
        if not planned:  # an empty month is one empty body
            close([], "", "", False)
        hashes = keeper.finish()
    except BaseException:
        keeper.abandon()  # nothing of a month that cannot be cut is kept
        raise
    planned = [replace(body, sha256=sha) for body, sha in zip(planned, hashes, strict=True)]
    return MonthBodies(month, planned, keeper.month_digest.hexdigest(), keeper.spool)


class _Keeper:
    """Hashes each body and writes it to the spool, in order, on a thread of its own while the
    next body's JSON is built (hashing and writing let go of Python's lock). At most one body
    waits to be kept, so no more than two bodies are held at once."""

    def __init__(self, spool: BinaryIO) -> None:
        self.spool = spool
        self.month_digest = hashlib.sha256()  # the content hash: every body's bytes, in order
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anycost-bodies")
        self._kept: list[Future[str]] = []

    def keep(self, pieces: tuple[bytes, ...]) -> None:
        """Hash and write one body's pieces after the bodies before it; a failure to keep an
        earlier body is raised here."""
        if self._kept:
            self._kept[-1].result()
        self._kept.append(self._thread.submit(self._write, pieces))

    def _write(self, pieces: tuple[bytes, ...]) -> str:
        body_digest = hashlib.sha256()
        # Hashed and written piece by piece: joining head, rows and tail would copy the body.
        for piece in pieces:
            body_digest.update(piece)
            self.month_digest.update(piece)
            self.spool.write(piece)
        return body_digest.hexdigest()

    def finish(self) -> list[str]:
        """Every body's SHA-256, in order, once all are written (and flushed) to the spool."""
        hashes = [kept.result() for kept in self._kept]
        self._thread.shutdown()
        self.spool.flush()
        return hashes

    def abandon(self) -> None:
        """Stop, once the body being kept is done, and let the spool go."""
        try:
            self._thread.shutdown(cancel_futures=True)
        finally:
            self.spool.close()


Close = Callable[[list[pl.Series], str, str, bool], None]


def _pack(ordered: pl.DataFrame, budget: int, close: Close) -> None:
    """Whole hours packed greedily, in order, into bodies of at most `budget` bytes of rows:
    `close(rows, first_hour, last_hour, continues_hour)` for each body, in order."""
    filling: list[pl.Series] = []  # the JSON of its hours' rows
    used = 0  # their bytes, a comma after each row
    first = last = ""
    for hour, texts, sizes, at in _hours(ordered):
        size = sizes.sum()
        if filling and used + size > budget:
            close(filling, first, last, False)
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
                raise RowTooLargeForBody(row_size, budget, hour, ordered.row(at + row, named=True))
            if part + row_size > budget:
                close([texts.slice(start, row - start)], hour, hour, start > 0)
                start, part = row, 0
            part += row_size
        close([texts.slice(start)], hour, hour, start > 0)
    if filling:
        close(filling, first, last, False)


def month_bodies(
    cbf: pl.DataFrame,
    month: str,
    *,
    operation: str = REPLACE_DROP,
    target_bytes: int = TARGET_BYTES,
) -> list[RequestBody]:
    """Every body of the month at once, in memory (`plan_bodies` keeps them on disk)."""
    bodies = plan_bodies(cbf, month, operation=operation, target_bytes=target_bytes)
    try:
        return list(bodies)
    finally:
        bodies.close()


def _hours(ordered: pl.DataFrame) -> Iterator[tuple[str, pl.Series, pl.Series, int]]:
    """Each hour of a month in time order, with its rows' JSON, their sizes in bytes (a
    comma after each row) and the index of its first row in `ordered`. The JSON is built for whole hours of about CHUNK_ROWS rows at a
    time, so that only a few hours' JSON is held beside the body being filled."""
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
            yield hour or "", json.slice(offset, n), sizes.slice(offset, n), start + offset
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


def content_hash(bodies: Sequence[RequestBody]) -> str:
    """One hash over every body of the month, in order."""
    if isinstance(bodies, MonthBodies):
        return bodies.content_hash
    digest = hashlib.sha256()
    for body in bodies:
        digest.update(body.payload)
    return digest.hexdigest()
