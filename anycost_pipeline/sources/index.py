"""Which months each export file of a files source holds, so a month reads only its files.

Kept under `<state>/index/<source>.json`: for each file its listing key, its content
fingerprint (as the sensor's) and its months. An entry holds while the fingerprint is the same
and the source's settings are those it was made with; otherwise the file is read again. A file
with a row in no month (an unreadable time) can hold any month and is read for every month.
Only sources that are the whole truth use it: an incremental source merges all its files.
"""

import hashlib
import json
from pathlib import Path

import polars as pl

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.config import FilesSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources import files
from anycost_pipeline.sources.watch import frame_months

INDEX = "index"
ANY_MONTH = "*"  # the months of a file with a row in no month: every month reads it


def index_file(state: Path, source: str) -> Path:
    return state / INDEX / f"{source}.json"


def _settings(source: FilesSource) -> str:
    """What decides a file's months: every setting of the source (a new timezone, time column
    or spread moves rows between months)."""
    return hashlib.sha256(source.model_dump_json().encode()).hexdigest()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _load(path: Path, settings: str) -> dict[str, dict]:
    data = _read(path)
    return data.get("files", {}) if data.get("settings") == settings else {}


def _gone(path: Path) -> dict[str, list[str]]:
    """Files that were listed once and are no longer, with the months they held: kept whatever
    the settings, so a month whose files were deleted is told from one whose records moved."""
    return dict(_read(path).get("gone", {}))


def _save(path: Path, settings: str, entries: dict[str, dict], gone: dict[str, list]) -> None:
    # Concurrent months may each write it: the last whole one stays.
    write_text_atomically(
        path, json.dumps({"settings": settings, "files": entries, "gone": gone}, sort_keys=True)
    )


def read_month_files(
    name: str, source: FilesSource, pattern: str, state: Path, month: Month
) -> tuple[pl.DataFrame, list[str]]:
    """The rows of the files that can hold the month, and every month the source's files hold.

    A file the index does not know (or whose fingerprint changed) is read once: to learn its
    months, and kept when it holds this month.
    """
    listed = files.file_infos(pattern)
    if not listed:
        raise files.SourceFilesError(
            f"source {name!r}: no file matches {pattern!r}; check `path` in anycost.yaml"
        )
    settings, where = _settings(source), index_file(state, name)
    known = _load(where, settings)
    entries: dict[str, dict] = {}
    frames: list[pl.DataFrame] = []
    for info in listed:
        before = known.get(info.path)
        current = files.fingerprint(info, (before["key"], before["print"]) if before else None)
        if before and before["print"] == current:
            months, columns = before["months"], before["columns"]
            if month_key(month) in months or ANY_MONTH in months:
                frames.append(files.read_file(name, source, info.path))
        else:
            frame = files.read_file(name, source, info.path)
            found = frame_months(name, source, frame)
            months = found.months + ([ANY_MONTH] if found.problem else [])
            columns = frame.columns
            if month_key(month) in months or ANY_MONTH in months:
                frames.append(frame)
        entries[info.path] = {
            "key": info.listing_key,
            "print": current,
            "months": months,
            "columns": columns,
        }
    before = _gone(where)
    gone = {p: m for p, m in before.items() if p not in entries}
    gone.update({p: e["months"] for p, e in known.items() if p not in entries})
    if any(month_key(month) in e["months"] for e in entries.values()):
        # Files hold the month again: what was deleted before no longer decides whether it is
        # kept once it empties.
        gone = {p: [m for m in ms if m != month_key(month)] for p, ms in gone.items()}
        gone = {p: ms for p, ms in gone.items() if ms}
    if entries != known or gone != before:
        _save(where, settings, entries, gone)
    every = sorted({m for e in entries.values() for m in e["months"] if m != ANY_MONTH})
    frame = (
        pl.concat(frames, how="diagonal")
        if frames
        else pl.DataFrame(schema={files.SOURCE_ROW: pl.Int64, files.SOURCE_FILE: pl.String})
    )
    # The columns of the files left unread too, empty, as reading every file would give them.
    missing = dict.fromkeys(
        c for e in entries.values() for c in e["columns"] if c not in frame.columns
    )
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing), every


def month_key(month: Month) -> str:
    return str(month)


def indexed_months(state: Path, name: str, source: FilesSource) -> list[str]:
    """Every month the source's files held at the last read (from the index)."""
    entries = _load(index_file(state, name), _settings(source))
    return sorted({m for e in entries.values() for m in e["months"] if m != ANY_MONTH})


def gone_files(state: Path, name: str, month: str) -> list[str]:
    """The files that held rows of the month when last read and are no longer listed."""
    gone = _gone(index_file(state, name))
    return sorted(p for p, months in gone.items() if month in months or ANY_MONTH in months)
