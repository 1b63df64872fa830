"""Which months of a files source changed since the last look: a listing against a cursor.

The cursor keeps each file's fingerprint (size, version) and the months it holds. A new or
changed file is read to learn its months; a removed file takes its rows out of its months.
Only the listing is fetched for files that did not change.
"""

import hashlib
import json
from dataclasses import dataclass

from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.mapping import charge_ends, months_of, with_usage_hour
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.files import SourceFilesError, file_infos, read_file

REMOVED = "removed"


@dataclass(frozen=True)
class FileChanges:
    """The months that new, changed or removed files touch, and the cursor to keep."""

    files: dict[str, list]  # path → [fingerprint, months]: the next cursor
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


def file_months(name: str, source: FilesSource, path: str) -> list[str]:
    """The months one export file holds rows for."""
    frame = with_usage_hour(
        read_file(name, source, path),
        name,
        source.time_column,
        source.timezone,
        source.time_format,
        source.ambiguous_time,
    )
    # A spread charge is in every month its hours fall in (a Tokyo fee of local August starts
    # in July): a change to it changes each of them.
    return months_of(frame, charge_ends(frame, source) if source.spread is not None else None)


def file_changes(name: str, source: FilesSource, pattern: str, cursor: str | None) -> FileChanges:
    """List the source's location and compare it with the cursor of the last look."""
    previous: dict[str, list] = json.loads(cursor)["files"] if cursor else {}
    listed = {info.path: info.fingerprint for info in file_infos(pattern)}
    files: dict[str, list] = {}
    touched: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for path, fingerprint in listed.items():
        before = previous.get(path)
        if before and before[0] == fingerprint:
            files[path] = before
            continue
        try:
            months = file_months(name, source, path)
        except (SourceFilesError, BadSourceData) as error:
            # The run for its old months (if any) will fail and show the same message.
            unreadable.append(f"{path}: cannot tell which months it holds: {error}")
            months = before[1] if before else []
        files[path] = [fingerprint, months]
        for month in set(months) | set(before[1] if before else []):
            touched.setdefault(month, []).append(f"{path}@{fingerprint}")
    for path, (_, months) in previous.items():
        if path not in listed:  # a removed file takes its rows out of its months
            for month in months:
                touched.setdefault(month, []).append(f"{path}@{REMOVED}")
    return FileChanges(files, touched, len(listed), unreadable)
