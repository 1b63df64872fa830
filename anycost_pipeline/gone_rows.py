"""Rows CloudZero was sent whose origin cannot be read now, so that nothing says they left the
month: they came from an export file that is gone (a vendor's retention) or from a pulled
source that returns nothing for the month now.

A `replace_drop` submission replaces the whole month, so such rows are carried forward: the
month as sent is the sources' month now plus the rows of the month as last sent (the drop's
stored frame, whose lineage names each row's source and file) that came from there and that
the sources' month lacks. Whatever else in the month changed (another file or source gained a
row, a source moved to another connection) is sent; the gone rows are neither dropped nor
counted twice. A row is still in the month when the month holds a row with the same time,
resource, service, account, type and tags, whatever its amounts (a renamed month-to-date
export holds its days again, some restated): it is not carried.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.columns import COST, DECIMAL_COLUMNS, USAGE_START
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_NAME
from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.figures import counted
from anycost_pipeline.settling import utc_now
from anycost_pipeline.sources import file_names

_KEY, _SHORT, _NTH, _ORDER = "_content", "_short", "_nth", "_order"

# The month as last sent to a connection, with its lineage (empty: never sent).
SentTo = Callable[[str], pl.DataFrame]
# A source's month as last converted to CBF (empty: never converted).
Converted = Callable[[str], pl.DataFrame]


@dataclass(frozen=True)
class Unread:
    """Where rows of the month came from that cannot be read now."""

    source: str
    words: str
    files: frozenset[str] | None = None  # the gone files; None: rows of the source
    before: str | None = None  # only rows that start before this day (an API's retention)


def unread_origins(
    project: AnycostConfig, frames: Mapping[str, pl.DataFrame], month: str
) -> list[Unread]:
    """The gone export files that held the month, of the connection's sources (`frames`) and of
    sources that moved to another connection since; the pulled sources that return nothing
    for it now; and the days of it before a pulled source's `retention_days` (incremental
    sources and `deleted_files: remove` are the whole truth: their records that left, left)."""
    from anycost_pipeline.sources.index import month_evidence

    found = []
    for name, source in project.sources.items():
        if source.incremental or (name not in frames and not isinstance(source, FilesSource)):
            continue
        if isinstance(source, FilesSource):
            if source.deleted_files == "remove":
                continue
            gone, _ = month_evidence(project.storage_path, name, month)
            if gone:
                moved = (
                    "" if name in frames else f" (it sends to connection {source.connection} now)"
                )
                words = f"source {name}'s export file(s) that are gone ({file_names(gone)}){moved}"
                found.append(Unread(name, words, frozenset(gone)))
        elif frames[name].is_empty():
            words = f"source {name}, which is pulled and returned nothing for {month}"
            found.append(Unread(name, words))
        elif source.retention_days is not None:
            # The window's first day too: an API may count today among its N days, or start
            # the window at the hour of the pull. (A row it still returns is not carried.)
            last = (utc_now() - timedelta(days=source.retention_days)).date()
            if f"{month}-01" <= last.isoformat():
                words = (
                    f"source {name} for days up to {last.isoformat()}, which its API may no "
                    f"longer return (`retention_days: {source.retention_days}`)"
                )
                found.append(Unread(name, words, before=(last + timedelta(days=1)).isoformat()))
    return found


@dataclass(frozen=True)
class GoneRows:
    """Rows of the month as last sent whose origin cannot be read now and that the sources'
    month lacks: `rows` (with their lineage) are sent again with it, `words` say how many,
    their cost and where they came from. `rows` None: this adaptor holds no copy of the month
    as last sent to tell which rows came from there (the frames folder was deleted), so only
    a month that would shrink is kept."""

    words: str
    rows: pl.DataFrame | None = None

    @property
    def unsure(self) -> bool:
        return self.rows is None


def gone_rows(
    project: AnycostConfig,
    connection: str,
    frames: Mapping[str, pl.DataFrame],
    now: pl.DataFrame,
    month: str,
    sent_to: SentTo | None,
    converted: Converted | None = None,
) -> GoneRows | None:
    """The rows of the month as last sent to the connection that came from where nothing can
    be read now and that `now` (the sources' month) lacks; None when there are none. A moved
    source's rows are carried only while its new connection does not hold them and the
    source's month as last converted (`converted`) does not hold them either."""
    origins = unread_origins(project, frames, month)
    if not origins:
        return None
    sent = sent_to(connection) if sent_to is not None else pl.DataFrame()
    if sent.is_empty():
        own = [o for o in origins if o.files is not None and o.source in frames]
        if own:
            words = (
                f"{_words(own)} held rows of it, and this adaptor holds no copy of the month as "
                "last sent to tell whether the sources' month still holds them"
            )
            return GoneRows(words)
        return None  # a pulled source that returns nothing, for a month never sent from it
    candidates = _candidates(project, frames, origins, sent, sent_to, converted)
    carried = missing(candidates, sent, now)
    if carried.is_empty():
        return None
    where = _words([o for o in origins if not carried.filter(_from([o], carried)).is_empty()])
    cost = _cost(carried)
    places = max(2, -int(cost.as_tuple().exponent))
    one = carried.height == 1
    return GoneRows(
        f"the month as sent keeps {counted(carried.height, 'row')}, cost {cost:.{places}f}, that "
        f"CloudZero was sent from {where}: the sources' month does not hold "
        f"{'it' if one else 'them'} now, and nothing says {'it' if one else 'they'} left the "
        "month (`anycost delete-month` and a run send the month as the sources hold it)",
        carried,
    )


def _words(origins: list[Unread]) -> str:
    return " and ".join(o.words for o in origins)


def _candidates(
    project: AnycostConfig,
    frames: Mapping[str, pl.DataFrame],
    origins: list[Unread],
    sent: pl.DataFrame,
    sent_to: SentTo | None,
    converted: Converted | None,
) -> pl.DataFrame:
    """The rows of `sent` that came from the origins, in `sent`'s order; of a source that moved
    to another connection, only those that neither that connection's month as last sent nor
    the source's month as converted now holds (told apart by what they are, as `missing`
    does): rows it was sent before their file went are carried there, and rows the source
    still delivers (a renamed export) go there now."""
    position = "_position"
    numbered = sent.with_row_index(position)
    parts = [numbered.filter(_from([o for o in origins if o.source in frames], numbered))]
    for origin in origins:
        if origin.source in frames:
            continue
        mine = numbered.filter(_from([origin], numbered))
        there = sent_to(project.sources[origin.source].connection) if sent_to else pl.DataFrame()
        if SOURCE_NAME in there.columns:
            there = there.filter(pl.col(SOURCE_NAME).cast(pl.String) == origin.source)
        else:
            there = pl.DataFrame()
        delivered = converted(origin.source) if converted else pl.DataFrame()
        elsewhere = pl.concat([there, delivered], how="diagonal_relaxed")
        parts.append(missing(mine, mine, elsewhere) if elsewhere.height else mine)
    return pl.concat(parts, how="diagonal_relaxed").sort(position).drop(position)


def _from(origins: list[Unread], sent: pl.DataFrame) -> pl.Expr:
    """The rows of `sent` that came from the origins (a pulled source's rows are told by the
    source name the month as sent carries; a month sent before it did tells none of them)."""
    matches = pl.lit(False)
    for origin in origins:
        if origin.files is not None and SOURCE_FILE in sent.columns:
            matches = matches | pl.col(SOURCE_FILE).is_in(list(origin.files))
        elif origin.files is None and SOURCE_NAME in sent.columns:
            mine = pl.col(SOURCE_NAME).cast(pl.String) == origin.source
            if origin.before is not None:
                mine = mine & (pl.col(USAGE_START).cast(pl.String) < origin.before)
            matches = matches | mine
    return matches


def missing(candidates: pl.DataFrame, sent: pl.DataFrame, now: pl.DataFrame) -> pl.DataFrame:
    """The rows of `candidates` (rows of `sent`) that `now` lacks, in `sent`'s order. Rows are
    told apart by what they are, not their amounts (the CBF columns both frames have, and the
    source where both name it; amounts and the rest of the lineage left out), and counted as
    many times as they occur: of the rows `sent` holds
    more of than `now`, as many as came from the candidates (the first ones)."""
    if candidates.is_empty():
        return candidates
    shared = set(sent.columns) & set(now.columns) if now.width else set(sent.columns)
    # The row's source too, where both frames name it: another source's row of the same day
    # and service is another charge, not this one restated.
    columns = sorted(
        c
        for c in shared
        if (not c.startswith("_") or c == SOURCE_NAME) and c not in DECIMAL_COLUMNS
    )
    counts = [
        # Signed counts: polars counts are unsigned, and their difference below must not wrap.
        frame.select(_key(frame, columns)).group_by(_KEY).agg(pl.len().cast(pl.Int64).alias(label))
        for frame, label in ((candidates, "mine"), (sent, "sent"), (now, "now"))
    ]
    joined = counts[0].join(counts[1], on=_KEY, how="left").join(counts[2], on=_KEY, how="left")
    short = joined.with_columns(
        pl.min_horizontal(
            "mine", (pl.col("sent") - pl.col("now").fill_null(0)).clip(lower_bound=0)
        ).alias(_SHORT)
    ).filter(pl.col(_SHORT) > 0)
    return (
        candidates.with_columns(_key(candidates, columns), pl.int_range(pl.len()).alias(_ORDER))
        .with_columns(pl.int_range(pl.len()).over(_KEY).alias(_NTH))
        .join(short.select(_KEY, _SHORT), on=_KEY)
        .filter(pl.col(_NTH) < pl.col(_SHORT))
        .sort(_ORDER)
        .drop(_KEY, _SHORT, _NTH, _ORDER)
    )


def missing_rows(
    candidates: pl.DataFrame, sent: pl.DataFrame, now: pl.DataFrame
) -> tuple[int, Decimal]:
    """How many of `candidates` `now` lacks (`missing`), and their cost."""
    rows = missing(candidates, sent, now)
    return rows.height, _cost(rows)


def _cost(rows: pl.DataFrame) -> Decimal:
    """The rows' exact cost."""
    return (
        sum((Decimal(c) for c in rows.get_column(COST)), Decimal(0)) if rows.height else Decimal(0)
    )


def _key(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """Each row's content (its CBF columns, lineage left out) as one text."""
    parts = [
        pl.col(c).cast(pl.String).fill_null("\x00") if c in frame.columns else pl.lit("\x00")
        for c in columns
    ]
    return pl.concat_str(parts, separator="\x1f").alias(_KEY)
