"""What a month sends to a connection: its sources combined, refused when it must not be sent,
and cut into the request bodies that drop/<connection> and `anycost dry-run` both produce.

The bodies are planned (sizes, cuts, each body's hash and the month's content hash) before
anything is sent; each is built once, kept in a temporary file and read back just before it
is sent, so a month's bodies are never all in memory at once."""

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf.bodies import REPLACE_DROP, MonthBodies, RowTooLargeForBody, plan_bodies
from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_NAME
from anycost_pipeline.cbf.validation import cost_total, row_problems
from anycost_pipeline.cbf.verdicts import unchecked
from anycost_pipeline.cloudzero.client import MonthRequests, PlannedRequest
from anycost_pipeline.cloudzero.month_state import Evidence
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.gone_rows import Converted, SentTo, gone_rows
from anycost_pipeline.months import Month
from anycost_pipeline.overlap import Overlap, find_overlaps
from anycost_pipeline.settling import Settled, month_settled, source_settled, utc_now
from anycost_pipeline.sources import GONE, LEFT, UNKNOWN, emptied_evidence
from anycost_pipeline.sources.reads import read_of, without_read
from anycost_pipeline.sources.shared_files import SharedFiles, shared_in_month


class MonthRefused(ValueError):
    """The month is not sent as it stands; nothing was sent. The message says what to do."""


class CombinedSourcesInvalid(MonthRefused):
    """Each source passed its own checks, but the month as sent breaks a CBF rule."""

    def __init__(self, connection: str, month: str, problems: pl.DataFrame) -> None:
        first = "; ".join(
            f"{Path(f).name}, row {r}, column {c!r}: {why}"
            for f, r, c, _, why in problems.head(5).iter_rows()
        )
        super().__init__(
            f"the sources of connection {connection} combined break {problems.height:,} CBF "
            f"rule(s) for {month}; nothing was sent. First: {first}"
        )


class ChecksFailed(MonthRefused):
    """A source's month failed a blocking check (or was never checked): it is never sent,
    whatever starts the drop."""

    def __init__(self, connection: str, month: str, why: dict[str, str]) -> None:
        listed = "; ".join(
            f"cbf/{source} {reason}: fix it and rematerialise cbf/{source} for {month}"
            for source, reason in sorted(why.items())
        )
        super().__init__(
            f"{month} was not sent to connection {connection}; nothing was sent. {listed}"
        )


class Overlapping(MonthRefused):
    """The connection's `overlap.mode` is `fail` and the month shares cost with another place."""

    def __init__(self, connection: str, month: str, found: list[Overlap]) -> None:
        listed = "; ".join(f.line for f in found[:5])
        more = f" (and {len(found) - 5:,} more)" if len(found) > 5 else ""
        super().__init__(
            f"{month} was not sent to connection {connection}; nothing was sent: its overlap "
            f"check (mode fail) found {len(found):,} overlap(s): {listed}{more}. Remove the "
            "cost from one of the places, or list the pair under `overlap.allow` in "
            "anycost.yaml once you know it is not counted twice."
        )


class SourcesShareFiles(MonthRefused):
    """Two sources of the connection read the same export file: its rows would be sent twice."""

    def __init__(self, project: AnycostConfig, month: str, shared: list[SharedFiles]) -> None:
        said = "; ".join(pair.sentence(project.base_dir) for pair in shared)
        super().__init__(
            f"{month} was not sent to connection {shared[0].connection}; nothing was sent. {said}"
        )


class RowTooLarge(MonthRefused):
    """A single CBF row is larger than a whole request body."""


def row_too_large(
    project: AnycostConfig,
    connection: str,
    month: str,
    error: RowTooLargeForBody,
    source: str | None = None,
) -> str:
    """The refusal of a month that holds a row no request body can carry, naming the source,
    file and row, the column whose value makes it large, and the fix."""
    where = f"source {source}, " if source else ""
    largest = (
        f"; its largest value is column {error.column!r} ({error.column_bytes:,} bytes)"
        if error.column
        else ""
    )
    return (
        f"{month} was not sent to connection {connection}; nothing was sent. {where}{error}"
        f"{largest}. A row cannot be split across bodies: shorten that value in the export or "
        "the mapping in anycost.yaml (or raise cloudzero.limits.body_bytes, at most 5,000,000)"
    )


class NoRoomForBodies(MonthRefused):
    """The month's request bodies could not be written to the temporary folder."""


@dataclass(frozen=True)
class MonthToSend:
    """A connection's month as it is sent: the combined frame, its request bodies (each read
    from disk when it is used), the hash that tells an unchanged month, and its exact cost total."""

    cbf: pl.DataFrame
    bodies: MonthBodies
    content_hash: str
    total: Decimal
    # Why CloudZero's month is kept or cannot be judged, and the gone rows carried forward
    evidence: Evidence = Evidence()
    reads: dict[str, int] = field(default_factory=dict)  # source → its read's number (`reads`)
    overlaps: list[Overlap] = field(default_factory=list)  # what the overlap check found
    settled: Settled | None = None  # final or estimated, and why

    @property
    def empty(self) -> bool:
        return self.cbf.is_empty()

    @property
    def requests(self) -> MonthRequests:
        return requests_of(self.bodies)


def requests_of(bodies: MonthBodies) -> MonthRequests:
    """The bodies as the client sends them, (operation, payload, rows), each payload read just
    before it is sent."""
    planned = [
        PlannedRequest(p.cut.operation, p.cut.rows, p.bytes, p.sha256) for p in bodies.planned
    ]
    return MonthRequests(planned, lambda index: bodies[index].payload)


def combined(
    frames: Mapping[str, pl.DataFrame], sources: list[str], carried: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The sources' CBF frames of a month as one frame, in the order of `sources`, as sent,
    each row naming its source (a lineage column, never sent), then the `carried` rows of the
    month as last sent (`gone_rows`), which name theirs."""
    extra = carried is not None and not carried.is_empty()
    named = extra and SOURCE_NAME in carried.columns  # a month sent before rows named theirs
    earlier = (
        carried.get_column(SOURCE_NAME).cast(pl.String).unique().sort().to_list() if named else []
    )
    # An enum of the sources: 4 bytes a row, where text would hold a view of 16 (9 MiB at
    # 1,000,000 rows, measured as the whole run's peak).
    names = pl.Enum(sources + [n for n in earlier if n not in sources])
    parts = [frames[name].with_columns(pl.lit(name, names).alias(SOURCE_NAME)) for name in sources]
    if extra:
        parts.append(
            carried.with_columns(pl.col(SOURCE_NAME).cast(pl.String).cast(names))
            if named
            else carried
        )
    if not parts:  # a connection whose sources all moved away
        return pl.DataFrame(schema={USAGE_START: pl.String, COST: pl.String, SOURCE_NAME: names})
    return pl.concat(parts, how="diagonal_relaxed" if extra else "diagonal")


def _source_of(frames: Mapping[str, pl.DataFrame], file: str | None) -> str | None:
    """The source whose rows came from `file` (the first, in order)."""
    for name, frame in frames.items():
        if file is not None and SOURCE_FILE in frame.columns:
            if frame.get_column(SOURCE_FILE).eq(file).any():
                return name
    return None


def connection_bodies(
    project: AnycostConfig,
    connection: str,
    cbf: pl.DataFrame,
    month: str,
    frames: Mapping[str, pl.DataFrame] | None = None,
) -> MonthBodies:
    """The request bodies a submission of the month to the connection sends, byte for byte
    (`frames`, the sources' own, name the source of a row too large to send)."""
    # An empty month is one empty replace_drop, whatever the connection's operation: it is sent
    # only to clear the month (see cloudzero.month_state).
    operation = project.connections[connection].operation if cbf.height else REPLACE_DROP
    try:
        return plan_bodies(
            cbf,
            month,
            operation=operation,
            target_bytes=project.cloudzero.limits.body_bytes,
        )
    except RowTooLargeForBody as error:
        source = _source_of(frames or {}, error.file)
        raise RowTooLarge(row_too_large(project, connection, month, error, source)) from None
    except OSError as error:
        folder = tempfile.gettempdir()
        raise NoRoomForBodies(
            f"the request bodies of {month} for connection {connection} could not be written to "
            f"the temporary folder {folder} ({error}); nothing was sent. They need about the "
            "month's JSON in free space there (340 MB for 1,000,000 rows): free some, or set "
            "TMPDIR to a folder with room."
        ) from None


def month_to_send(
    project: AnycostConfig,
    connection: str,
    frames: Mapping[str, pl.DataFrame],
    month: str,
    others: Mapping[str, pl.DataFrame] | None = None,
    sent_to: SentTo | None = None,
    converted: Converted | None = None,
) -> MonthToSend:
    """The month of the connection's sources (`frames`, by source, in order), ready to send;
    raises MonthRefused (nothing sent) for a source that failed its blocking checks, two
    sources that read one file, sources that break a CBF rule together, a row too large to
    send, or, under `overlap.mode: fail`, cost also found in another source or in `others`
    (other connections' months). `sent_to` gives the month as last sent to a connection, with
    its lineage: on a `replace_drop` connection, its rows whose origin is gone are carried
    forward (`gone_rows`; `converted` gives a source's month as last converted). An empty
    month is the one empty body that would clear it, with the reason it must be kept instead,
    if any (whether it is sent is the connection state's decision: only a month this adaptor
    sent before is cleared)."""
    sources = list(frames)
    sent_to = cache(sent_to) if sent_to is not None else None  # each read once
    why = unchecked(dict(frames))
    if why:
        raise ChecksFailed(connection, month, why)
    shared = shared_in_month(project, connection, frames)
    if shared:
        raise SourcesShareFiles(project, month, shared)
    numbers = {name: read_of(frame) for name, frame in frames.items()}
    reads = {name: number for name, number in numbers.items() if number is not None}
    frames = {name: without_read(frame) for name, frame in frames.items()}
    cbf = combined(frames, sources)
    # Only a replace_drop month's sources are the whole month: only there can a send drop rows.
    replaces = project.connections[connection].operation == REPLACE_DROP
    gone = (
        gone_rows(project, connection, frames, cbf, month, sent_to, converted) if replaces else None
    )
    if gone is not None and gone.rows is not None:
        cbf = as_last_sent(combined(frames, sources, gone.rows), sent_to(connection))
    settled = settled_of(project, frames, month)
    if cbf.is_empty():
        bodies = connection_bodies(project, connection, cbf, month)
        evidence = emptied(project, connection, sources, month, sent_to)
        return MonthToSend(
            cbf, bodies, bodies.content_hash, Decimal(0), evidence, reads, settled=settled
        )
    if len(sources) > 1 or gone is not None:
        # Each source passed its own checks; combined, their columns meet (a tagged source
        # beside an untagged one), so the month as sent is checked once more. Its size is
        # send_month's to judge (MonthOverLimit names rows and bytes, the excess and the fix).
        problems = row_problems(cbf, Month.parse(month), rows_per_month=None)
        if not problems.is_empty():
            raise CombinedSourcesInvalid(connection, month, problems)
    settings = project.overlap_of(connection)
    found = find_overlaps(frames, others or {}, settings)
    if found and settings.mode == "fail":
        raise Overlapping(connection, month, found)
    bodies = connection_bodies(project, connection, cbf, month, frames)
    if gone is None:
        evidence = Evidence()
    elif gone.unsure:
        evidence = Evidence(kept_because=gone.words)
    else:
        evidence = Evidence(carried=gone.words)
    return MonthToSend(
        cbf,
        bodies,
        bodies.content_hash,
        cost_total(cbf),
        evidence,
        reads=reads,
        overlaps=found,
        settled=settled,
    )


def as_last_sent(month: pl.DataFrame, sent: pl.DataFrame) -> pl.DataFrame:
    """`month` (the sources' month with carried rows), or the month as last sent when it holds
    the same rows in another order: the carried rows come last, and an unchanged month must
    give the same bodies, and hash, as when it was sent."""
    columns = [c for c in month.columns if not c.startswith("_")]
    if month.height != sent.height or set(columns) != {c for c in sent.columns if c[0] != "_"}:
        return month
    mine, theirs = (f.select(columns).sort(columns, nulls_last=True) for f in (month, sent))
    return sent if mine.equals(theirs) else month


def moved_away(
    project: AnycostConfig,
    connection: str,
    sources: list[str],
    month: str,
    sent_to: SentTo | None,
) -> list[tuple[str, str]]:
    """Evidence, as `emptied_evidence` gives it, of each source that the month as last sent
    holds rows of and that now sends to another connection: its records left this
    connection's month (LEFT), unless its files that held the month are gone and its new
    connection holds none of its rows of the month, so that it cannot send them (GONE). A
    source no longer in anycost.yaml at all says nothing here: a month it alone held stays as
    CloudZero holds it (a month it shared with a configured source is sent without its rows)."""
    sent = sent_to(connection) if sent_to is not None else pl.DataFrame()
    if SOURCE_NAME not in sent.columns:
        return []  # never sent, or sent before the month named its sources
    found = []
    for name in sorted(sent.get_column(SOURCE_NAME).drop_nulls().cast(pl.String).unique()):
        if name in sources or name not in project.sources:
            continue
        other = project.sources[name].connection
        there = sent_to(other) if sent_to is not None else pl.DataFrame()
        elsewhere = SOURCE_NAME in there.columns and name in there.get_column(SOURCE_NAME).cast(
            pl.String
        )
        kind, why = emptied_evidence(name, project.sources[name], project, month)
        if kind == GONE and not elsewhere:
            found.append((GONE, f"{why}, and it now sends to connection {other}"))
        else:
            found.append((LEFT, f"source {name}'s records left {month} for connection {other}"))
    return found


def settled_of(project: AnycostConfig, frames: Mapping[str, pl.DataFrame], month: str) -> Settled:
    """The connection's month labelled final or estimated, from each source's `settles`."""
    now = utc_now()
    return month_settled(
        [
            source_settled(name, project.sources[name].settles, month, frame, now)
            for name, frame in frames.items()
        ],
        now,
    )


def emptied(
    project: AnycostConfig,
    connection: str,
    sources: list[str],
    month: str,
    sent_to: SentTo | None = None,
) -> Evidence:
    """For an empty month: why CloudZero's month must be kept, or why it cannot be told
    whether to clear or keep it (neither: the month's records left it and none says otherwise,
    so clearing it is the sources' truth); and whether nothing shows that a source ever held
    it (no records left it, no file that held it is gone, no pull). (On a `replace_drop`
    connection, rows of the month as last sent whose origin is gone were carried forward, and
    the month is not empty: `gone_rows`.)"""
    found = [emptied_evidence(name, project.sources[name], project, month) for name in sources]
    found += moved_away(project, connection, sources, month, sent_to)
    left = [why for kind, why in found if kind == LEFT]
    doubt = [why for kind, why in found if kind in (GONE, UNKNOWN)]
    if left and doubt:
        return Evidence(
            unclear_because=(
                "; ".join(left) + ", but " + "; ".join(doubt) + ": clearing the month could drop "
                "rows that are still right, keeping it could count moved rows twice"
            )
        )
    if left:
        return Evidence()
    kept = "; ".join(doubt or [why for _, why in found if why]) or "no source held it"
    return Evidence(kept_because=kept, never_held=not doubt)
