"""Which months of a files source changed since the last look, and which to request.

The sensor's memory (`watch_state`) keeps each file's fingerprint (its content: an object
store's ETag or version id, a local file's SHA-256) and the months it holds. A new or changed
file is read to learn its months; a removed file takes its rows out of its months. Only the
listing is fetched for object-store files that did not change, and a local file is hashed only
when it was written. A look reads files for at most a time budget: what it did not reach is new
or changed still at the next look, which continues.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from anycost_pipeline.cbf.errors import BadSourceData, raise_problems
from anycost_pipeline.cbf.hours import charge_ends, months_of, usage_hours
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.files import SourceFilesError, file_infos, fingerprint, read_file
from anycost_pipeline.sources.watch_state import Token, WatchState, settings_digest


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


@dataclass(frozen=True)
class Request:
    """One month to request: under a new sequence (`files` changed it), or again under the
    sequence of its latest request (`again`: a file with a problem, unchanged, or a request the
    cursor does not show as saved), which Dagster runs once."""

    month: str
    sequence: int
    files: list[str]
    again: bool = False


@dataclass(frozen=True)
class Look:
    """What one look found, and the memory to keep."""

    state: WatchState
    requests: dict[str, Request]
    listed: int
    to_read: int  # files new or changed (or to read again under new settings) at this look
    read: int  # of them, read (or hashed) at this look; the others wait for the next
    unreadable: list[str]  # why a changed file's months could not be told, one line per file
    waiting: dict[str, list[str]] = field(default_factory=dict)  # month outside → files, new
    settings_changed: bool = False

    @property
    def unfinished(self) -> bool:
        return self.read < self.to_read

    def run_key(self, source: str, month: str) -> str:
        return self.state.run_key(source, month, self.requests[month].sequence)


def _start(stored: WatchState | None, token: Token | None, settings: str) -> tuple[WatchState, int]:
    """The memory to compare with, and the last sequence whose requests Dagster saved.

    No cursor (a new sensor, a cursor reset in the UI) or one of another memory: start again
    (every file is new), keeping the epoch and the sequence so that no run key is used twice.
    A memory newer than the cursor (a look whose cursor Dagster did not save): its requests
    since the cursor's sequence are made again, under the same keys.
    """
    if stored is None:
        state = WatchState.new(settings, token.sequence if token else 0)
        return state, state.sequence
    if token is None or token.epoch != stored.epoch:
        sequence = max(stored.sequence, token.sequence if token else 0)
        return WatchState.new(settings, sequence, stored.epoch), sequence
    # A memory older than the cursor (restored, or lost in a crash): never reuse a sequence.
    stored.sequence = max(stored.sequence, token.sequence)
    return stored, token.sequence


def look(
    name: str,
    source: FilesSource,
    pattern: str,
    stored: WatchState | None,
    token: Token | None,
    months: list[str],
    budget_seconds: float,
    max_reads: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Look:
    """List the source's location and compare it with the memory of the last look.

    `months`: the project's months (start_month to the current month). A month outside them is
    kept as pending and requested at the first look at which it is inside. A change of the
    source's settings reads every file again and requests every month its files held before
    and hold after. A file whose rows are not all in a month (an unreadable time, a file that
    cannot be read) is requested at every look under the same run key while it is unchanged,
    so Dagster runs it once; its months are those of its readable rows and those it held
    before; with none, the newest month, so that a run shows the problem.
    """
    deadline = clock() + budget_seconds
    settings = settings_digest(source)
    state, saved = _start(stored, token, settings)
    settings_changed = state.settings != settings
    if settings_changed:
        for entry in state.files.values():
            entry["stale"] = True
        state.settings = settings
    touched: dict[str, set[str]] = {}
    unreadable: list[str] = []
    listed = file_infos(pattern)
    to_read = read = 0
    for info in listed:
        before = state.files.get(info.path)
        if before and before["key"] == info.listing_key and not before.get("stale"):
            continue  # not written since the last look: the same content
        to_read += 1
        if clock() >= deadline or (max_reads is not None and read >= max_reads):
            continue  # the next look continues: this file is still new or changed then
        read += 1
        known = (before["key"], before["print"]) if before and before["print"] else None
        try:
            current = fingerprint(info, known)
        except SourceFilesError as error:
            current, found = f"{info.listing_key}:unreadable", FileMonths([], str(error))
        else:
            if before and before["print"] == current and not before.get("stale"):
                before["key"] = info.listing_key  # written again with the same content
                continue
            found = file_months(name, source, info.path)
        held = before["months"] if before else []
        now = found.months
        entry = {"print": current, "key": info.listing_key, "months": now}
        if found.problem is not None:
            unreadable.append(f"{info.path}: {found.problem}")
            entry["months"] = sorted(set(now) | set(held)) or [months[-1]]
            entry["problem"] = True
        state.files[info.path] = entry
        for month in set(entry["months"]) | set(held):
            touched.setdefault(month, set()).add(info.path)
    present = {info.path for info in listed}
    for path in [p for p in state.files if p not in present]:
        for month in state.files.pop(path)["months"]:  # a removed file takes its rows out
            touched.setdefault(month, set()).add(path)
    waiting = _outside(state, touched, set(months))
    return Look(
        state=state,
        requests=_requests(state, touched, saved, set(months)),
        listed=len(listed),
        to_read=to_read,
        read=read,
        unreadable=unreadable,
        waiting=waiting,
        settings_changed=settings_changed,
    )


def _outside(
    state: WatchState, touched: dict[str, set[str]], inside: set[str]
) -> dict[str, list[str]]:
    """Moves the touched months outside the project into `pending`, and the pending months now
    inside into `touched`; returns the months newly outside, with their files."""
    waiting = {}
    for month in [m for m in touched if m not in inside]:
        files = touched.pop(month)
        waiting[month] = sorted(files)
        state.pending[month] = sorted(set(state.pending.get(month, [])) | files)
    for month in [m for m in state.pending if m in inside]:
        touched.setdefault(month, set()).update(state.pending.pop(month))
    return waiting


def _requests(
    state: WatchState, touched: dict[str, set[str]], saved: int, inside: set[str]
) -> dict[str, Request]:
    requests: dict[str, Request] = {}
    if touched:
        state.sequence += 1
        for month, files in sorted(touched.items()):
            requests[month] = Request(month, state.sequence, sorted(files))
            state.requested[month] = state.sequence
    problems: dict[str, list[str]] = {}
    for path, entry in state.files.items():
        if entry.get("problem"):
            for month in entry["months"]:
                problems.setdefault(month, []).append(path)
    unsaved = {m for m, sequence in state.requested.items() if sequence > saved}
    for month in sorted((set(problems) | unsaved) - set(requests)):
        if month in inside and month in state.requested:
            requests[month] = Request(
                month, state.requested[month], problems.get(month, []), again=True
            )
    return requests
