"""Rows CloudZero was sent that the month as its sources hold it now would drop, although
nothing says they left the month: they came from an export file that is gone (a vendor's
retention) or from a pulled source that returns nothing for the month now.

A `replace_drop` month that would drop such rows is kept (`cloudzero.month_state`), whatever
else in it changed: another file or source gaining a row must not carry the gone rows away.
A row is still in the month when the month holds a row with the same time, resource, service,
account, type and tags, whatever its amounts (a renamed month-to-date export holds its days
again, some restated): such a month is sent.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf.columns import COST, DECIMAL_COLUMNS
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_NAME
from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.figures import counted
from anycost_pipeline.sources import file_names

_KEY, _SHORT = "_content", "_short"


@dataclass(frozen=True)
class Unread:
    """Where rows of the month came from that cannot be read now."""

    source: str
    words: str
    files: frozenset[str] | None = None  # the gone files; None: every row of the source


def unread_origins(
    project: AnycostConfig, frames: Mapping[str, pl.DataFrame], month: str
) -> list[Unread]:
    """The sources' gone export files that held the month, and the pulled sources that return
    nothing for it now (incremental sources and `deleted_files: remove` are the whole truth:
    their records that left, left)."""
    from anycost_pipeline.sources.index import month_evidence

    found = []
    for name, frame in frames.items():
        source = project.sources[name]
        if source.incremental:
            continue
        if isinstance(source, FilesSource):
            if source.deleted_files == "remove":
                continue
            gone, _ = month_evidence(project.storage_path, name, month)
            if gone:
                words = f"source {name}'s export file(s) that are gone ({file_names(gone)})"
                found.append(Unread(name, words, frozenset(gone)))
        elif frame.is_empty():
            words = f"source {name}, which is pulled and returned nothing for {month}"
            found.append(Unread(name, words))
    return found


@dataclass(frozen=True)
class GoneRows:
    """Why sending the month could drop rows whose origin cannot be read now, in words.
    `unsure`: this adaptor holds no copy of the month as last sent to tell which rows came from
    there (the frames folder was deleted), so only a month that would shrink is kept."""

    words: str
    unsure: bool = False


def gone_rows(
    project: AnycostConfig,
    frames: Mapping[str, pl.DataFrame],
    now: pl.DataFrame,
    month: str,
    last: Callable[[], pl.DataFrame] | None,
) -> GoneRows | None:
    """The rows of the month as last sent (`last`, with lineage) that came from where nothing
    can be read now and that `now` (the month as it would be sent) lacks; None when there are
    none."""
    origins = unread_origins(project, frames, month)
    if not origins:
        return None
    sent = last() if last is not None else pl.DataFrame()
    where = " and ".join(o.words for o in origins)
    if sent.is_empty():
        if any(o.files is not None for o in origins):
            words = (
                f"{where} held rows of it, and this adaptor holds no copy of the month as last "
                "sent to tell whether the sources' month still holds them"
            )
            return GoneRows(words, unsure=True)
        return None  # a pulled source that returns nothing, for a month never sent from it
    rows, cost = missing_rows(sent.filter(_from(origins, sent)), sent, now)
    if not rows:
        return None
    places = max(2, -int(cost.as_tuple().exponent))
    return GoneRows(
        f"{counted(rows, 'row')}, cost {cost:.{places}f}, that CloudZero was sent from {where} "
        f"{'is' if rows == 1 else 'are'} not in the sources' month now"
    )


def _from(origins: list[Unread], sent: pl.DataFrame) -> pl.Expr:
    """The rows of `sent` that came from the origins (a pulled source's rows are told by the
    source name the month as sent carries; a month sent before it did tells none of them)."""
    matches = pl.lit(False)
    for origin in origins:
        if origin.files is not None and SOURCE_FILE in sent.columns:
            matches = matches | pl.col(SOURCE_FILE).is_in(list(origin.files))
        elif origin.files is None and SOURCE_NAME in sent.columns:
            matches = matches | (pl.col(SOURCE_NAME).cast(pl.String) == origin.source)
    return matches


def missing_rows(
    candidates: pl.DataFrame, sent: pl.DataFrame, now: pl.DataFrame
) -> tuple[int, Decimal]:
    """How many of `candidates` (rows of `sent`) `now` lacks, and their cost. Rows are told
    apart by what they are, not their amounts (the CBF columns both frames have, lineage and
    amounts left out), and counted as many times as they occur: of the rows `sent` holds more
    of than `now`, as many as came from the candidates (the first ones, for their cost)."""
    if candidates.is_empty():
        return 0, Decimal(0)
    shared = set(sent.columns) & set(now.columns)
    columns = sorted(c for c in shared if not c.startswith("_") and c not in DECIMAL_COLUMNS)
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
    if short.is_empty():
        return 0, Decimal(0)
    gone = (
        candidates.select(_key(candidates, columns), COST)
        .with_columns(pl.int_range(pl.len()).over(_KEY).alias("_nth"))
        .join(short.select(_KEY, _SHORT), on=_KEY)
        .filter(pl.col("_nth") < pl.col(_SHORT))
    )
    return gone.height, sum((Decimal(c) for c in gone.get_column(COST)), Decimal(0))


def _key(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """Each row's content (its CBF columns, lineage left out) as one text."""
    parts = [
        pl.col(c).cast(pl.String).fill_null("\x00") if c in frame.columns else pl.lit("\x00")
        for c in columns
    ]
    return pl.concat_str(parts, separator="\x1f").alias(_KEY)
