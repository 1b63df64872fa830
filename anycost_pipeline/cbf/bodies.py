"""A month's CBF frame as AnyCost Stream request bodies, cut at hour boundaries.

CloudZero has no upload session, so a month too large for one body is sent as several:
the first `replace_drop` clears the month, later ones `replace_hourly` replace only their own
hours, and no hour is split across bodies, so any request repeated gives the same state. An
hour too large for one body alone is sent as `replace_hourly` followed by `sum` parts.
"""

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate

import polars as pl

from anycost_pipeline.cbf.columns import USAGE_START

TARGET_BYTES = 4_500_000
MAX_BYTES = 5_000_000
PIECE_BYTES = 300_000  # JSON per polars call when writing a body (see `_write_array`)
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


def sent_columns(cbf: pl.DataFrame) -> list[pl.Expr]:
    """The CBF columns as a body holds them: sorted, lineage columns left out, null as ""."""
    return [
        pl.col(n).fill_null("") for n in sorted(c for c in cbf.columns if not c.startswith("_"))
    ]


def row_json(cbf: pl.DataFrame) -> pl.Series:
    """Each row as a compact JSON object over its CBF columns (lineage columns left out)."""
    return cbf.select(pl.struct(sent_columns(cbf)).struct.json_encode().alias("json")).to_series()


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
    # The same JSON as `row_json`, but polars writes the rows straight into the body.
    prepared = ordered.select(sent_columns(ordered))
    hours = ordered.get_column(USAGE_START).rle().struct.unnest().rows()
    budget = target_bytes - len(b"".join(_envelope(month, REPLACE_HOURLY)))

    def cut(sizes: pl.Series) -> list[_Cut]:
        try:
            return _cuts(sizes, hours, operation, budget)
        except _OversizeRow as oversize:
            size = row_json(prepared.slice(oversize.row, 1)).str.len_bytes().item() + 1
            raise ValueError(
                f"one CBF row is {size:,} bytes, larger than a whole request body"
            ) from None

    sizes = _row_sizes(prepared)
    cuts = cut(sizes)
    bodies = _written(prepared, cuts, month)
    if len(bodies) < len(cuts):
        # A value that needs escaping made a body longer than its size foretold: from that
        # body's first row on, size the rows by their JSON itself and cut again. The cuts
        # before it stay where they were, as their rows were sized right.
        start = cuts[len(bodies)].start
        exact = row_json(prepared.slice(start)).str.len_bytes().cast(pl.Int64) + 1
        cuts = cut(pl.concat([sizes.slice(0, start), exact]))
        if cuts[len(bodies)].start != start:
            raise RuntimeError(f"the request bodies of {month} were cut differently a second time")
        bodies += _written(prepared, cuts[len(bodies) :], month)
        if len(bodies) < len(cuts):
            raise RuntimeError(
                f"a request body for {month} came out longer than its rows' own JSON"
            )
    return bodies


def _row_sizes(prepared: pl.DataFrame) -> pl.Series:
    """Each row's JSON and the comma after it, in bytes: its values' bytes plus a fixed length
    for keys and punctuation. Exact unless a value needs escaping (a quote, a backslash, a
    control character), which only makes the JSON longer."""
    fixed = (
        2 + sum(len(n.encode()) + 5 for n in prepared.columns) + len(prepared.columns) - 1 + 1
    )  # {"k":"",...},
    sizes = pl.repeat(
        fixed, prepared.height, dtype=pl.Int64, eager=True
    )  # a month may pass 32 bits
    for name in prepared.columns:
        sizes += prepared.get_column(name).cast(pl.String).str.len_bytes()  # as polars writes them
    return sizes


class _OversizeRow(Exception):
    """A row whose JSON alone is larger than a body."""

    def __init__(self, row: int) -> None:
        self.row = row


@dataclass(frozen=True)
class _Cut:
    """The rows of one body, in the month in time order."""

    operation: str
    start: int
    rows: int
    first_hour: str
    last_hour: str
    size: int  # the JSON of its rows, with a comma after each


def _cuts(
    sizes: pl.Series, hours: list[tuple[int, str]], operation: str, budget: int
) -> list[_Cut]:
    """Whole hours packed greedily into bodies of at most `budget` bytes of rows, in order; an
    hour larger than a body alone goes over several, `replace_hourly` (or `replace_drop`) then
    `sum` parts. `sizes` are each row's JSON and comma, `hours` the month's (rows, hour) runs."""
    cuts: list[_Cut] = []
    ends = list(accumulate(n for n, _ in hours))
    through = sizes.cum_sum().gather([e - 1 for e in ends]).to_list()
    start = used = before = 0
    first = last = ""

    def close(
        rows: int, first_hour: str, last_hour: str, size: int, continues_hour: bool = False
    ) -> None:
        cuts.append(
            _Cut(
                _operation(operation, len(cuts), continues_hour),
                start,
                rows,
                first_hour or "",
                last_hour or "",
                size,
            )
        )

    for (n, hour), end, upto in zip(hours, ends, through):
        size, before = upto - before, upto
        if used and used + size > budget:
            close(end - n - start, first, last, used)
            start, used = end - n, 0
        if size > budget:  # the hour alone is too large: its rows over several bodies
            part = 0
            for row, row_size in enumerate(sizes.slice(end - n, n).to_list(), start=end - n):
                if row_size > budget:
                    raise _OversizeRow(row)
                if part + row_size > budget:
                    close(row - start, hour, hour, part, continues_hour=start > end - n)
                    start, part = row, 0
                part += row_size
            close(end - start, hour, hour, part, continues_hour=start > end - n)
            start = end
            continue
        if not used:
            first = hour
        used += size
        last = hour
    if used:
        close(ends[-1] - start, first, last, used)
    return cuts


def _written(prepared: pl.DataFrame, cuts: list[_Cut], month: str) -> list[RequestBody]:
    """The bodies of `cuts`, written two at a time, up to the first that comes out longer than
    its cut's size (a value in it needed escaping)."""

    def write(cut: _Cut) -> RequestBody | None:
        head, tail = _envelope(month, cut.operation)
        buffer = io.BytesIO()
        buffer.write(head[:-1])  # the rows' own `[` opens the data array
        _write_array(
            buffer, prepared.slice(cut.start, cut.rows), max(1, PIECE_BYTES * cut.rows // cut.size)
        )
        buffer.write(tail[1:])
        payload = buffer.getvalue()
        # head[:-1] + "[" + rows and their commas + "]" + "}" when every row was sized right
        return (
            RequestBody(cut.operation, payload, cut.rows, cut.first_hour, cut.last_hour)
            if len(payload) == len(head) + cut.size + 1
            else None
        )

    # polars writes JSON without holding Python's lock, so two threads write two bodies at once.
    # More threads gain nothing on two cores: the page faults for new memory queue up.
    bodies: list[RequestBody] = []
    with ThreadPoolExecutor(max_workers=max(1, min(2, len(cuts)))) as pool:
        futures = [pool.submit(write, cut) for cut in cuts]
        for index, future in enumerate(futures):
            body = future.result()
            if body is None:
                for later in futures[index + 1 :]:
                    later.cancel()
                break
            bodies.append(body)
    return bodies


def _write_array(buffer: io.BytesIO, rows: pl.DataFrame, piece: int) -> None:
    """Write `rows` (at least one) as one JSON array at the buffer's position, `piece` rows per
    polars call: each call's `[` lands on the previous call's `]` and becomes the comma between
    them. Writing a whole body in one call makes polars and Python take fresh memory for a full
    copy of it, which costs more time."""
    for lo in range(0, rows.height, piece):
        mark = buffer.tell() - 1 if lo else buffer.tell()
        buffer.seek(mark)
        rows.slice(lo, piece).write_json(buffer)
        if lo:
            buffer.getbuffer()[mark] = ord(",")


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
