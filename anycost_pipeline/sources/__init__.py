"""Readers: a source config and a month in, a polars frame of source text out. No Dagster.

Every reader returns every column as text plus the lineage columns `_source_file` and
`_source_row`. A full-export source returns what the source holds now (possibly more than the
month; the caller keeps the month's rows). An incremental source keeps every pull as a batch
and returns the merge of all its batches (of every month): the caller keeps the month's rows.
"""

import os
from datetime import datetime, timezone

import polars as pl

from anycost_pipeline.cbf.spec import source_columns
from anycost_pipeline.config import (
    ENV_PREFIX,
    AnycostConfig,
    AnySource,
    ConfigError,
    FilesSource,
    HttpSource,
    SqlSource,
)
from anycost_pipeline.months import Month
from anycost_pipeline.sources import batches, files
from anycost_pipeline.sources.errors import SourceHttpError, SourceSqlError

# The http and sql readers (requests, urllib3, database drivers) are imported where a source of
# their kind is read: a files source, the common case, does not pay for loading them.

# Everything a reader raises for the user to fix (a wrong setting, an unreachable source).
SourceReadError = (
    files.SourceFilesError,
    SourceHttpError,
    SourceSqlError,
    batches.SourceBatchError,
    ConfigError,
)


def pull(
    name: str, source: AnySource, config: AnycostConfig, month: Month, since: datetime | None = None
) -> pl.DataFrame:
    """What the source states now for the month (files: every file that can hold the month,
    by the index of their months; every matching file for an incremental source)."""
    if isinstance(source, FilesSource):
        pattern = config.resolve_path(source.path)
        if source.incremental:  # every file: a later one may restate a record of any month
            return files.read_source_files(name, source, pattern)
        from anycost_pipeline.sources import index

        frame, _ = index.read_month_files(name, source, pattern, config.storage_path, month)
        return frame
    if isinstance(source, HttpSource):
        from anycost_pipeline.sources import http

        return http.read_month(name, source, month, since)
    if isinstance(source, SqlSource):
        from anycost_pipeline.sources import sql

        return sql.read_month(name, source, database_url(name, source, config), month)
    raise TypeError(f"unknown source kind {source!r}")


def read_month(
    name: str, source: AnySource, config: AnycostConfig, month: Month, number: int | None = None
) -> pl.DataFrame:
    """The source's records for the month: pulled, and for incremental sources merged.
    `number` is the read's place in the source's order (`batches.next_pull`, taken as the
    read starts; by default now); an incremental source's pull is kept under it."""
    if not source.incremental:
        return with_mapped_columns(pull(name, source, config, month), source)
    assert source.key
    storage = config.storage_path
    started = datetime.now(timezone.utc)
    number = batches.next_pull(storage, name) if number is None else number
    frame = pull(name, source, config, month, since=batches.last_pull(storage, name, month))
    batches.check_unique(name, frame, source.key, f"the pull for {month}")
    batches.save_batch(storage, name, month, frame, pulled_at=started, number=number)
    # Every month's pulls, not only this month's: a pull for another month may restate (move)
    # a record into this one, or out of it. The caller keeps the records of the month.
    frame = batches.merge_batches(
        name, batches.all_batches(storage, name), source.key, source.tombstone
    )
    return with_mapped_columns(frame, source)


LEFT, GONE, UNKNOWN, NEVER = "left", "gone", "unknown", "never"


def file_names(paths: list[str], most: int = 5) -> str:
    """The files' names (not their folders), the first `most` of them."""
    return ", ".join(p.rsplit("/", 1)[-1] for p in paths[:most]) + (" …" if paths[most:] else "")


def emptied_evidence(
    name: str, source: AnySource, config: AnycostConfig, month: str
) -> tuple[str, str]:
    """For a month the source holds nothing of now, what says why, and in words: LEFT (its
    records moved out: a file still listed holds other months now, or an incremental record
    was restated elsewhere), GONE (files that held it were deleted), UNKNOWN (a pulled source
    that returns nothing, which may no longer keep the month) or NEVER (nothing shows that the
    source held the month, e.g. files deleted before this version kept track)."""
    if source.incremental:
        from anycost_pipeline.sources.restated import load_digests

        held = month in load_digests(config.storage_path, name)
        return (LEFT, f"source {name}'s records left {month}") if held else (NEVER, "")
    if isinstance(source, FilesSource):
        from anycost_pipeline.sources import index

        gone, left = index.month_evidence(config.storage_path, name, month)
        if gone and source.deleted_files == "remove":
            names = file_names(gone)
            return LEFT, (
                f"source {name}'s export file(s) that held {month} were deleted ({names}), "
                "and its deleted files leave their months (deleted_files: remove)"
            )
        if gone:
            names = file_names(gone)
            return GONE, f"source {name}'s export file(s) that held {month} are gone ({names})"
        if left:
            names = file_names(left)
            return LEFT, f"source {name}'s rows left {month} ({names} hold other months now)"
        return NEVER, f"nothing shows that source {name}'s records left {month}"
    return UNKNOWN, (
        f"source {name} is pulled and returned nothing for {month}, which may mean it no longer "
        "keeps the month"
    )


def with_mapped_columns(frame: pl.DataFrame, source: AnySource) -> pl.DataFrame:
    """An empty pull has no columns; give it the mapped ones so an empty month maps cleanly."""
    if not frame.is_empty():
        return frame
    wanted = [
        n for spec in source.columns.values() for group in source_columns(spec) for n in group
    ]
    return frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(n)
        for n in dict.fromkeys(wanted)
        if n not in frame.columns
    )


def database_url(name: str, source: SqlSource, config: AnycostConfig) -> str:
    """The database URL: read from the environment for `env:NAME`; file paths made absolute."""
    url = source.url
    if url.startswith(ENV_PREFIX):
        var = url[len(ENV_PREFIX) :]
        url = os.environ.get(var, "").strip()
        if not url:
            raise ConfigError(
                f"source {name!r}: the database URL is read from environment variable {var}, which is not set"
            )
    scheme, _, rest = url.partition(":///")
    if (
        scheme.lower() in ("sqlite", "duckdb")
        and rest
        and not rest.startswith("/")
        and rest != ":memory:"
    ):
        url = f"{scheme}:///{config.resolve_path(rest)}"
    return url


def describe(name: str, source: AnySource) -> str:
    """Where the source's records come from, in a sentence for the asset description."""
    if isinstance(source, FilesSource):
        where = f"the {source.format} export files `{source.path}`"
    elif isinstance(source, HttpSource):
        where = f"the API `{source.address}`"
    else:
        from anycost_pipeline.sources.sql import safe_url

        where = f"a query on `{safe_url(source.url)}`"
    how = (
        f"Pulled incrementally; every pull is kept under `batches/{name}/` and merged by key ({', '.join(source.key or [])}): each record counts in the month of its latest statement."
        if source.incremental
        else "The source is the whole truth: a record gone from it is gone from the month."
    )
    return f"Read from {where}. {how}"
