"""Incremental sources: every pull kept as an immutable batch; the months are their merge.

`<storage>/batches/<source>/<YYYY-MM>/p<sequence>-<UTC time of the pull>-<id>.parquet`, in the
folder of the month the pull was made for. Pulls are ordered by a sequence the adaptor hands
out as each pull starts, never by the machine's clock (a clock that runs fast must not make an
old pull look newer than a correction). The source is rebuilt from all its batches, of every
month, in pull order: a record (same key) restated by a later pull replaces its earlier version, a
record no later pull mentions stays, and a record whose tombstone column says so is removed.
A month is then the records whose latest statement falls in it, whichever month's pull stated
it: a record the vendor restates into another month moves there, instead of staying in the
first month and being counted in both.
"""

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from filelock import FileLock

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.config import Tombstone
from anycost_pipeline.months import Month

BATCHES = "batches"
_ORDER = "_batch"
_STAMP = "%Y%m%dT%H%M%S%fZ"
_SEQUENCE = "sequence"  # the last pull number handed out, per source
# Batches kept before pulls were numbered are named by their time alone; "p" sorts after any
# digit, so every numbered pull comes after them.
_NUMBERED = "p"


class SourceBatchError(ValueError):
    """The pulled records cannot be merged into the month (e.g. the key is not unique)."""


def batch_folder(storage: Path, source: str, month: Month) -> Path:
    return storage / BATCHES / source / str(month)


def list_batches(storage: Path, source: str, month: Month) -> list[Path]:
    """The month's batches, oldest pull first (names are UTC times, so they sort by time)."""
    folder = batch_folder(storage, source, month)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def next_pull(storage: Path, source: str) -> int:
    """The number of a read of the source that starts now (a pull, or a reading of its files):
    one more than any read of the source before it, whichever machine's clock says what (the
    counter is kept under a lock, beside the batches, and replaced whole: a run killed while
    writing it must not start the numbering again)."""
    folder = storage / BATCHES / source
    folder.mkdir(parents=True, exist_ok=True)
    counter = folder / _SEQUENCE
    try:
        with FileLock(str(counter) + ".lock"):
            try:
                last = int(counter.read_text(encoding="utf-8") or 0)
            except FileNotFoundError:
                last = 0
            write_text_atomically(counter, str(last + 1), durable=True)
    except OSError as error:  # ENOLCK and the like: a shared volume without file locks
        raise SourceBatchError(
            f"source {source!r}: its read counter {counter} cannot be locked or written "
            f"({error.strerror or error}); nothing was read or sent. Keep the project's state "
            "(`state:` in anycost.yaml, else `storage:`) on a filesystem with file locks: a local "
            "disk, or a shared volume whose mount supports them (NFS with its lock service, "
            "NFSv4, EFS)."
        ) from None
    return last + 1


def all_batches(storage: Path, source: str) -> list[Path]:
    """Every batch of the source, of every month, oldest pull first.

    Names start with the pull's number (older batches: the UTC time of the pull), so they
    sort in pull order across month folders.
    """
    folder = storage / BATCHES / source
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*/*.parquet"), key=lambda path: (path.name, path.parent.name))


def save_batch(
    storage: Path,
    source: str,
    month: Month,
    frame: pl.DataFrame,
    pulled_at: datetime | None = None,
    number: int | None = None,
) -> Path:
    """Keep one pull as it came, named by its number (`next_pull`, taken when it started) and
    the time it started; never overwritten."""
    folder = batch_folder(storage, source, month)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (pulled_at or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(_STAMP)
    number = number if number is not None else next_pull(storage, source)
    path = folder / f"{_NUMBERED}{number:012d}-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    temporary = folder / f".{path.name}.tmp"
    frame.write_parquet(temporary)
    os.replace(temporary, path)
    return path


def last_pull(storage: Path, source: str, month: Month) -> datetime | None:
    """When the month's latest kept pull started (None before the first pull)."""
    kept = list_batches(storage, source, month)
    if not kept:
        return None
    parts = kept[-1].name.split("-")
    stamp = parts[1] if parts[0].startswith(_NUMBERED) else parts[0]
    return datetime.strptime(stamp, _STAMP).replace(tzinfo=timezone.utc)


def check_unique(source: str, frame: pl.DataFrame, key: list[str], origin: str) -> None:
    """One pull must not state the same key twice: merging would drop a real record."""
    missing = [name for name in key if name not in frame.columns]
    if missing and not frame.is_empty():
        raise SourceBatchError(
            f"source {source!r}: key column(s) {', '.join(missing)} not found in {origin}; "
            f"the source has: {', '.join(c for c in frame.columns if not c.startswith('_'))}"
        )
    if frame.is_empty():
        return
    blank = [pl.col(k).cast(pl.String).str.strip_chars().fill_null("") == "" for k in key]
    keyless = frame.filter(pl.any_horizontal(blank))
    if not keyless.is_empty():
        places = "; ".join(
            f"{row[SOURCE_FILE]}, row {row[SOURCE_ROW]}, column "
            + repr(next(k for k in key if not str(row[k] or "").strip()))
            + f": value {row[next(k for k in key if not str(row[k] or '').strip())]!r}"
            for row in keyless.head(6).iter_rows(named=True)
        )
        raise SourceBatchError(
            f"source {source!r}: {keyless.height} record(s) in {origin} have no value in the key "
            f"({', '.join(key)}): a later pull's record without one would replace it silently. "
            "Give every record a key value, or add columns to `key` in anycost.yaml that every "
            f"record has. Nothing was sent. First ones: {places}"
        )
    duplicated = frame.filter(pl.struct(key).is_duplicated())
    if not duplicated.is_empty():
        places = "; ".join(
            f"{row[SOURCE_FILE]}, row {row[SOURCE_ROW]}: "
            + ", ".join(f"{k}={row[k]!r}" for k in key)
            for row in duplicated.head(6).iter_rows(named=True)
        )
        raise SourceBatchError(
            f"source {source!r}: {duplicated.height} records in {origin} share a key "
            f"({', '.join(key)}), so one would hide another; add columns to `key` in anycost.yaml. "
            f"First ones: {places}"
        )


def merge_batches(
    source: str, batches: list[Path], key: list[str], tombstone: Tombstone | None
) -> pl.DataFrame:
    """The latest statement of every record across the batches (oldest pull first)."""
    # Name the pull in each record's origin: two pulls of one URL would otherwise give two
    # different records the same (file, row) place, and places must be unique to account for rows.
    frames = [
        pl.read_parquet(path).with_columns(
            pl.lit(i).alias(_ORDER),
            (pl.col(SOURCE_FILE) + f" (pull {path.stem})").alias(SOURCE_FILE),
        )
        for i, path in enumerate(batches)
    ]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={SOURCE_ROW: pl.Int64, SOURCE_FILE: pl.String})
    stacked = pl.concat(frames, how="diagonal")
    for name in key:
        if name not in stacked.columns:
            raise SourceBatchError(
                f"source {source!r}: key column {name!r} is missing from the stored batches"
            )
    merged = stacked.unique(subset=key, keep="last", maintain_order=True).sort(
        _ORDER, maintain_order=True
    )
    if tombstone and tombstone.column in merged.columns:
        marks = [v.lower() for v in tombstone.values]
        deleted = (
            pl.col(tombstone.column)
            .str.strip_chars()
            .str.to_lowercase()
            .is_in(marks)
            .fill_null(False)
        )
        merged = merged.filter(~deleted)
    return merged.drop(_ORDER)
