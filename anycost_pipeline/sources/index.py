"""Which months each export file of a files source holds, so a month reads only its files.

Kept under `<state>/index/<source>.json`: for each file its listing key, its content
fingerprint (as the sensor's) and its months. An entry holds while the fingerprint is the same
and the source's settings are those it was made with; otherwise the file is read again. A file
with a row in no month (an unreadable time) can hold any month and is read for every month.
Only sources that are the whole truth use it: an incremental source merges all its files.
"""

import json
from pathlib import Path

import polars as pl
from filelock import FileLock

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.config import FilesSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources import files
from anycost_pipeline.sources.watch import frame_months, frames_months
from anycost_pipeline.sources.watch_state import settings_digest

INDEX = "index"
ANY_MONTH = "*"  # the months of a file with a row in no month: every month reads it
GONE, LEFT = "gone", "left"  # months that deleted files held; months whose records moved out
NEW_ROWS_AT_ONCE = 100_000  # new files read before their months are learnt in one pass


def index_file(state: Path, source: str) -> Path:
    return state / INDEX / f"{source}.json"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _load(path: Path, settings: str) -> dict[str, dict]:
    data = _read(path)
    return data.get("files", {}) if data.get("settings") == settings else {}


def _save(path: Path, settings: str, entries: dict[str, dict], memory: dict) -> None:
    data = {"settings": settings, "files": entries, **memory}
    write_text_atomically(path, json.dumps(data, sort_keys=True))


def _remember(
    path: Path, previous: dict[str, dict], entries: dict[str, dict], month: str
) -> dict[str, dict[str, list[str]]]:
    """What the index remembers of months that files stopped holding, whatever the settings:
    `gone` (month → files that held it and were deleted) and `left` (month → files still
    listed that held it and hold it no more: the records moved out). Files holding the month
    being read again clear `left` for it; a deleted file listed again leaves `gone`. The rest
    of `gone` stays: a month that would shrink below what CloudZero holds is then kept."""
    memory = {kind: dict(_read(path).get(kind, {})) for kind in (GONE, LEFT)}
    for file, entry in previous.items():
        now = entries.get(file)
        kind = GONE if now is None else LEFT
        for held in set(entry.get("months", [])) - set(now["months"] if now else []):
            if held != ANY_MONTH:
                memory[kind][held] = sorted(set(memory[kind].get(held, [])) | {file})
    if any(month in e["months"] for e in entries.values()):
        memory[LEFT].pop(month, None)
    for held, deleted in list(memory[GONE].items()):
        still = [f for f in deleted if f not in entries]
        if still:
            memory[GONE][held] = still
        else:
            memory[GONE].pop(held)
    return memory


def read_month_files(
    name: str, source: FilesSource, pattern: str, state: Path, month: Month
) -> tuple[pl.DataFrame, list[str]]:
    """The rows of the files that can hold the month, and every month the source's files hold.

    A file the index does not know (or whose fingerprint changed) is read once: to learn its
    months, and kept when it holds this month. New files' months are learnt together, up to
    `NEW_ROWS_AT_ONCE` rows at a time.
    """
    listed = files.file_infos(pattern)
    if not listed and not seen_files(state, name):
        raise files.SourceFilesError(
            f"source {name!r}: no file matches {pattern!r}; check `path` in anycost.yaml"
        )
    settings, where = settings_digest(source), index_file(state, name)
    known = _load(where, settings)
    entries: dict[str, dict] = {}
    kept: dict[str, pl.DataFrame] = {}
    new: dict[str, pl.DataFrame] = {}  # read, months not learnt yet
    new_rows = 0

    def holds(months: list[str]) -> bool:
        return month_key(month) in months or ANY_MONTH in months

    def learn_months() -> None:
        nonlocal new_rows
        for path, found in frames_months(name, source, new).items():
            months = found.months + ([ANY_MONTH] if found.problem else [])
            entries[path].update(months=months, columns=new[path].columns)
            if holds(months):
                kept[path] = new[path]
        new.clear()
        new_rows = 0

    to_read = []
    for info in listed:
        before = known.get(info.path)
        current = files.fingerprint(info, (before["key"], before["print"]) if before else None)
        entry = entries[info.path] = {"key": info.listing_key, "print": current}
        if before and before["print"] == current:
            entry.update(months=before["months"], columns=before["columns"])
            if not holds(entry["months"]):
                continue
        to_read.append(info)
    for info, read in files.read_each(name, source, to_read):
        if "months" in entries[info.path]:  # known, and holds the month
            kept[info.path] = read()
            continue
        try:
            new[info.path] = read()
        except files.SourceFilesError:
            # A file that cannot be read stops only the months it holds, when they can be
            # told: it is read again, and refused, when one of them is run.
            months = months_of_unreadable(name, source, info.path)
            if months is None or month_key(month) in months:
                raise
            entries[info.path].update(months=months, columns=[])
            continue
        new_rows += new[info.path].height
        if new_rows >= NEW_ROWS_AT_ONCE:
            learn_months()
    learn_months()
    frames = [kept[info.path] for info in listed if info.path in kept]
    # Reads of several months (runs, the plan sensor) may end at once: the memory of deleted
    # files is merged with what is on disk under a lock, so none of them loses another's.
    where.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(where) + ".lock"):
        previous = _read(where)
        memory = _remember(where, previous.get("files", {}), entries, month_key(month))
        if entries != known or any(memory[k] != previous.get(k, {}) for k in memory):
            _save(where, settings, entries, memory)
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


def months_of_unreadable(name: str, source: FilesSource, path: str) -> list[str] | None:
    """The months a file that cannot be read holds, when every one of its lines has a
    readable time (a line with a stray separator after its time column); None when they
    cannot be told."""
    frame = files.read_ragged_file(name, source, path)
    if frame is None:
        return None
    found = frame_months(name, source, frame)
    return None if found.problem or not found.months else found.months


def month_key(month: Month) -> str:
    return str(month)


def indexed_months(state: Path, name: str, source: FilesSource) -> list[str]:
    """Every month the source's files held at the last read (from the index)."""
    entries = _load(index_file(state, name), settings_digest(source))
    return sorted({m for e in entries.values() for m in e["months"] if m != ANY_MONTH})


def seen_files(state: Path, name: str) -> bool:
    """Whether the source's files were read before (listed then, or deleted since): none
    listed now means they were all deleted (a vendor's retention), not a wrong `path`."""
    data = _read(index_file(state, name))
    return bool(data.get("files") or data.get(GONE))


def month_evidence(state: Path, name: str, month: str) -> tuple[list[str], list[str]]:
    """The files that held rows of the month and were deleted since, and those still listed
    whose rows left it (as this version of the index saw them change)."""
    data = _read(index_file(state, name))
    return sorted(data.get(GONE, {}).get(month, [])), sorted(data.get(LEFT, {}).get(month, []))
