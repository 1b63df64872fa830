"""Which months of a files source changed since the last look: a listing against a cursor.

The cursor keeps each file's fingerprint (its content: an object store's ETag or version id, a
local file's SHA-256) and the months it holds. A new or changed file is read to learn its
months; a removed file takes its rows out of its months. Only the listing is fetched for
object-store files that did not change, and a local file is hashed only when it was written.
"""

import hashlib
import json
from dataclasses import dataclass

import polars as pl

from anycost_pipeline.cbf.errors import BadSourceData, raise_problems
from anycost_pipeline.cbf.hours import charge_ends, months_of, usage_hours
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.files import SourceFilesError, file_infos, fingerprint, read_file

REMOVED = "removed"


@dataclass(frozen=True)
class FileChanges:
    """The months that new, changed or removed files touch, and the cursor to keep."""

    files: dict[str, list]  # path → [fingerprint, months, listing key]: the next cursor
    touched: dict[str, list[str]]  # month → `path@fingerprint` of each file that changed it
    listed: int  # how many files the listing holds
    unreadable: list[str]  # why a changed file's months could not be told, one line per file

    @property
    def cursor(self) -> str:
        return json.dumps({"files": self.files}, sort_keys=True)

    def paths(self, month: str) -> list[str]:
        return [token.rsplit("@", 1)[0] for token in self.touched[month]]

    def run_key(self, source: str, month: str) -> str:
        """The fingerprints are part of the key: the same file delivered again triggers again."""
        tokens = "\n".join(sorted(self.touched[month]))
        return f"{source}:{month}:{hashlib.sha256(tokens.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class FileMonths:
    """The months one export file holds rows for, and why some of its rows are in none."""

    months: list[str]
    problem: str | None = None  # a row without a readable time, or a file that cannot be read


def file_months(name: str, source: FilesSource, path: str) -> FileMonths:
    """The months one export file holds rows for (its readable rows' months when others are
    not readable: the problem is given with them)."""
    try:
        return frame_months(name, source, read_file(name, source, path))
    except SourceFilesError as error:
        return FileMonths([], str(error))


def frame_months(name: str, source: FilesSource, frame: pl.DataFrame) -> FileMonths:
    """The months the rows of one file's frame (from `read_file`) fall in; see `file_months`."""
    try:
        frame, untimed = usage_hours(
            frame,
            name,
            source.time_column,
            source.timezone,
            source.time_format,
            source.ambiguous_time,
        )
    except BadSourceData as error:
        return FileMonths([], str(error))
    # A spread charge is in every month its hours fall in (a Tokyo fee of local August starts
    # in July): a change to it changes each of them.
    months = months_of(frame, charge_ends(frame, source) if source.spread else None)
    try:
        raise_problems(name, untimed)
    except BadSourceData as error:
        return FileMonths(months, str(error))
    return FileMonths(months)


def file_changes(
    name: str, source: FilesSource, pattern: str, cursor: str | None, newest_month: str
) -> FileChanges:
    """List the source's location and compare it with the cursor of the last look.

    A file whose rows are not all in a month (an unreadable time, a file that cannot be read) is
    not recorded as seen: every look requests its months again, with the same run key while the
    file is the same, until it is fixed. Its months are those of its readable rows and those it
    held before; with none, `newest_month`, so that a run shows the problem.
    """
    previous: dict[str, list] = json.loads(cursor)["files"] if cursor else {}
    files: dict[str, list] = {}
    touched: dict[str, list[str]] = {}
    unreadable: list[str] = []
    listed = file_infos(pattern)
    for info in listed:
        path, before = info.path, previous.get(info.path)
        known = (before[2], before[0]) if before and len(before) > 2 and before[0] else None
        try:
            current = fingerprint(info, known)
        except SourceFilesError as error:
            current, found = f"{info.listing_key}:unreadable", FileMonths([], str(error))
        else:
            if before and before[0] == current:
                files[path] = before
                continue
            found = file_months(name, source, path)
        months = found.months
        if found.problem is not None:
            unreadable.append(f"{path}: {found.problem}")
            months = sorted(set(months) | set(before[1] if before else [])) or [newest_month]
        # An entry with a problem keeps no fingerprint: the next look reads the file again.
        files[path] = ["" if found.problem else current, months, info.listing_key]
        for month in set(months) | set(before[1] if before else []):
            touched.setdefault(month, []).append(f"{path}@{current}")
    paths = {info.path for info in listed}
    for path, (_, months, *_) in previous.items():
        if path not in paths:  # a removed file takes its rows out of its months
            for month in months:
                touched.setdefault(month, []).append(f"{path}@{REMOVED}")
    return FileChanges(files, touched, len(listed), unreadable)
