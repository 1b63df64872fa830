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
    return [pl.col(n).fill_null("") for n in sorted(c for c in cbf.columns if not c.startswith("_"))]


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
    # Sources usually arrive in time order; sorting a sorted month would only copy it.
    ordered = cbf
    if not cbf.get_column(USAGE_START).is_sorted():
        ordered = cbf.sort(USAGE_START, maintain_order=True)
    overhead = len(b"".join(_envelope(month, REPLACE_HOURLY)))
    # The same JSON as `row_json`, but polars writes the rows straight into the body.
    prepared = ordered.select(sent_columns(ordered))
    hours = ordered.get_column(USAGE_START).rle().struct.unnest().rows()
    budget = target_bytes - overhead
    planned = _planned_bodies(prepared, hours, month, operation, budget)
    if planned is None:
        return _measured_bodies(prepared, hours, month, operation, budget)
    bodies, resume = planned
    if resume < len(hours):  # a body came out longer than planned: measure from its first hour on
        position = sum(n for n, _ in hours[:resume])
        bodies += _measured_bodies(prepared.slice(position), hours[resume:], month, operation, budget, len(bodies))
    return bodies


def _measured_bodies(
    prepared: pl.DataFrame, hours: list[tuple[int, str]], month: str, operation: str, budget: int, first_index: int = 0
) -> list[RequestBody]:
    """The bodies cut by writing hour after hour and measuring what was written; `first_index`
    is the place of the first of them in the month (bodies before it were cut another way)."""
    builder = _Builder(month, operation, budget, first_index)
    position = 0
    for n, hour in hours:
        builder.add_hour(prepared.slice(position, n), hour)
        position += n
    return builder.finish()


@dataclass(frozen=True)
class _Planned:
    hour: int  # its first hour's place in the month's hours
    start: int
    rows: int
    first_hour: str
    last_hour: str
    size: int  # the JSON of its rows, with a comma after each


def _planned_bodies(
    prepared: pl.DataFrame, hours: list[tuple[int, str]], month: str, operation: str, budget: int
) -> tuple[list[RequestBody], int] | None:
    """The bodies `_measured_bodies` would cut, packed from sizes worked out before any JSON is
    written, so that they can then be written two at a time; with them, the place in `hours`
    where they stop (`len(hours)` when they hold the whole month). None when this way does not
    apply: no rows, an hour larger than a body, or a column that is not text.

    A row's JSON is its values' bytes plus a fixed length for keys and punctuation, unless a
    value needs escaping (a quote, a backslash, a control character), which only makes it
    longer. So a body as long as planned holds rows that were all sized exactly, and was cut
    where `_measured_bodies` cuts. The bodies stop before the first one that came out longer:
    from its first hour on, the month is `_measured_bodies`' to cut.
    """
    if not hours or any(dtype != pl.String for dtype in prepared.dtypes):
        return None  # no rows; or a column polars will not measure with `str.len_bytes` (Categorical)
    names = prepared.columns
    fixed = 2 + sum(len(n.encode()) + 5 for n in names) + len(names) - 1 + 1  # bytes of {"k":"",...} and its comma
    row_bytes = pl.sum_horizontal(pl.col(n).str.len_bytes() for n in names).cast(pl.Int64) + fixed  # a row fits 32 bits, a month need not
    ends = list(accumulate(n for n, _ in hours))
    through = prepared.select(row_bytes.cum_sum()).to_series().gather([e - 1 for e in ends]).to_list()
    plan: list[_Planned] = []
    start = used = opened = 0
    first = last = ""
    before = 0
    for index, ((n, hour), end, upto) in enumerate(zip(hours, ends, through)):
        size, before = upto - before, upto
        if size > budget:
            return None  # an hour larger than a body is split by `_measured_bodies`
        if used + size > budget and used:
            plan.append(_Planned(opened, start, end - n - start, first or "", last or "", used))
            start, used, opened = end - n, 0, index
        if not used:
            first = hour
        used += size
        last = hour
    plan.append(_Planned(opened, start, prepared.height - start, first or "", last or "", used))

    def write(index: int) -> RequestBody | None:
        body = plan[index]
        op = _operation(operation, index, False)
        head, tail = _envelope(month, op)
        buffer = io.BytesIO()
        buffer.write(head[:-1])  # the rows' own `[` opens the data array
        _write_array(buffer, prepared.slice(body.start, body.rows), max(1, PIECE_BYTES * body.rows // body.size))
        buffer.write(tail[1:])
        payload = buffer.getvalue()
        # head[:-1] + "[" + rows and their commas + "]" + "}" when every row was sized right
        return RequestBody(op, payload, body.rows, body.first_hour, body.last_hour) if len(payload) == len(head) + body.size + 1 else None

    # polars writes JSON without holding Python's lock, so two threads write two bodies at once.
    # More threads gain nothing on two cores: the page faults for new memory queue up.
    bodies: list[RequestBody] = []
    with ThreadPoolExecutor(max_workers=min(2, len(plan))) as pool:
        written = [pool.submit(write, index) for index in range(len(plan))]
        for index, future in enumerate(written):
            body = future.result()
            if body is None:
                for later in written[index + 1 :]:
                    later.cancel()
                return bodies, plan[index].hour
            bodies.append(body)
    return bodies, len(hours)


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


class _Builder:
    """Greedy packing of whole hours into bodies, in order.

    The open body is a buffer holding `{"month":..,"operation":..,"data":` and then a JSON
    array: each hour is written by polars as `[rows]` over the previous `]`, and its `[`
    becomes the separating comma, so no row is copied between strings on the way.
    """

    def __init__(self, month: str, operation: str, budget: int, first_index: int = 0) -> None:
        self.month, self.operation, self.budget, self.first_index = month, operation, budget, first_index
        self.bodies: list[RequestBody] = []
        self.buffer: io.BytesIO | None = None
        self.rows = self.used = 0
        self.first_hour: object = None
        self.last_hour: object = None

    def _open(self) -> io.BytesIO:
        op = _operation(self.operation, self.first_index + len(self.bodies), False)
        head, _ = _envelope(self.month, op)
        self.buffer = io.BytesIO()
        self.buffer.write(head[:-1])  # the hour's own `[` opens the data array
        return self.buffer

    def add_hour(self, rows: pl.DataFrame, hour: object) -> None:
        buffer = self.buffer or self._open()
        mark = buffer.tell() - 1 if self.rows else buffer.tell()  # over the `]`, or after `:`
        buffer.seek(mark)
        rows.write_json(buffer)
        size = buffer.tell() - mark - 1  # the rows, their commas and one comma more
        if size > self.budget or (self.used + size > self.budget and self.rows):
            with buffer.getbuffer() as written:
                hour_json = bytes(written[mark:]) if size <= self.budget else b""
            buffer.seek(mark)
            buffer.truncate()
            if self.rows:
                buffer.write(b"]")
                self._close()
            else:
                self.buffer = None
            if size > self.budget:
                self._split_hour(rows, hour)
                return
            buffer = self._open()
            buffer.write(hour_json)
        elif self.rows:
            buffer.getbuffer()[mark] = ord(",")
        if not self.rows:
            self.first_hour = hour
        self.rows += rows.height
        self.used += size
        self.last_hour = hour

    def _split_hour(self, rows: pl.DataFrame, hour: object) -> None:
        """An hour too big for one body: its rows over several, `replace_hourly` then `sum`."""
        json = row_json(rows)
        sizes = (json.str.len_bytes().cast(pl.Int64) + 1).to_list()  # +1 for the comma
        lo, used = 0, 0
        for index, size in enumerate(sizes):
            if size > self.budget:
                raise ValueError(f"one CBF row is {size:,} bytes, larger than a whole request body")
            if used + size > self.budget:
                self._append(json.slice(lo, index - lo), hour, lo > 0)
                lo, used = index, 0
            used += size
        self._append(json.slice(lo, len(sizes) - lo), hour, lo > 0)

    def _append(self, json: pl.Series, hour: object, continues_hour: bool) -> None:
        op = _operation(self.operation, self.first_index + len(self.bodies), continues_hour)
        head, tail = _envelope(self.month, op)
        data = json.str.join(",").cast(pl.Binary).item()
        self.bodies.append(RequestBody(op, head + data + tail, json.len(), hour or "", hour or ""))  # type: ignore[arg-type]

    def _close(self) -> None:
        assert self.buffer is not None
        self.buffer.write(b"}")
        first, last = self.first_hour or "", self.last_hour or ""
        op = _operation(self.operation, self.first_index + len(self.bodies), False)
        self.bodies.append(RequestBody(op, self.buffer.getvalue(), self.rows, first, last))  # type: ignore[arg-type]
        self.buffer, self.rows, self.used = None, 0, 0
        self.first_hour = self.last_hour = None

    def finish(self) -> list[RequestBody]:
        if self.rows:
            self._close()
        elif not self.bodies and not self.first_index:
            self._open().write(b"[]")
            self._close()
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
