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

from anycost_pipeline.cbf.errors import SOURCE_FILE, BadSourceData, raise_problems
from anycost_pipeline.cbf.hours import charge_ends, hour_months, months_of, row_hours
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
        frame, untimed = row_hours(frame, name, source)
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


def frames_months(
    name: str, source: FilesSource, frames: dict[str, pl.DataFrame]
) -> dict[str, FileMonths]:
    """`frame_months` of each file's frame (by path), read in one pass where that gives the
    same: files with the same columns (none filled in from another file), every row's time
    readable and no charge spread. Otherwise file by file, so that each file's problem is its
    own. (Reading the times of a month of daily files one file at a time cost more than
    reading the files.)"""
    same_columns = len({frozenset(frame.columns) for frame in frames.values()}) == 1
    if len(frames) > 1 and same_columns and not source.spread:
        try:
            framed, untimed = row_hours(pl.concat(frames.values(), how="diagonal"), name, source)
        except (BadSourceData, pl.exceptions.PolarsError):
            untimed = None  # files that disagree on a column's type: file by file
        if untimed is not None and untimed.height == 0:
            found = dict(framed.group_by(SOURCE_FILE).agg(hour_months()).iter_rows())
            return {path: FileMonths(found.get(path, [])) for path in frames}
    return {path: frame_months(name, source, frame) for path, frame in frames.items()}


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

    No memory: every file is new. A memory without a cursor of its own (a first tick whose
    cursor Dagster did not save, a new Dagster instance, a cursor reset in the UI) is kept, so
    a file removed since is still seen as removed, and every request it holds is made again
    under its own key: Dagster starts those it never started, and skips the others. A memory
    newer than the cursor (a tick whose cursor was not saved): its requests since the cursor's
    sequence are made again, under the same keys. A memory older than the cursor (restored
    from a backup, lost in a crash) never reuses a sequence.
    """
    if stored is None:
        state = WatchState.new(settings, token.sequence if token else 0)
        return state, state.sequence
    if token is None or token.epoch != stored.epoch:
        stored.sequence = max(stored.sequence, token.sequence if token else 0)
        return stored, 0
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
    started = clock()
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
    # The budget counts from the start of the look, listing included; a listing that takes
    # most of it still leaves a quarter of it for reading, so that every look makes progress.
    deadline = max(started + budget_seconds, clock() + budget_seconds / 4)
    to_read = read = 0
    upcoming = state.sequence + 1  # the sequence of this look's requests, if it makes any
    for info in listed:
        before = state.files.get(info.path)
        if before and before["key"] == info.listing_key and not before.get("stale"):
            continue  # not written since the last look: the same content
        to_read += 1
        if clock() >= deadline or (max_reads is not None and read >= max_reads):
            # The next look continues: this file is still new or changed then. Remember since
            # when it is as it is now (see `covered`).
            unread = state.unread.get(info.path)
            if not unread or unread[0] != info.listing_key:
                # [its listing key, since when it is as it is, since when it is listed unread]
                first = unread[-1] if unread else upcoming
                state.unread[info.path] = [info.listing_key, upcoming, first]
            continue
        read += 1
        unread = state.unread.pop(info.path, None)
        since = unread[1] if unread and unread[0] == info.listing_key else None
        if unread:
            # Runs requested while it was listed unread read it as it was then; what it held
            # before it was as it is now (or, changed since, before now) is not known: their
            # months are run again.
            _read_unknown(state, info.path, unread[-1], since, touched)
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
            if not covered(state, month, since):
                touched.setdefault(month, set()).add(info.path)
    present = {info.path for info in listed}
    for path in [p for p in state.unread if p not in present]:
        # Runs requested since it was listed read it (a run reads every file of its month), so
        # a file gone before this sensor read it takes its rows out of each of their months.
        _read_unknown(state, path, state.unread.pop(path)[-1], None, touched)
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


def _read_unknown(
    state: WatchState, path: str, first: int, until: int | None, touched: dict[str, set[str]]
) -> None:
    """Touch the months whose last request (at sequence `first` or later, before `until`)
    read the file in a version this sensor never read."""
    for month, sequence in state.requested.items():
        if sequence >= first and (until is None or sequence < until):
            touched.setdefault(month, set()).add(path)


def covered(state: WatchState, month: str, since: int | None) -> bool:
    """Whether a request already made reads the month with this file as it is now.

    A look that runs out of time requests the months of the files it read; the others are read
    at the next looks. Those requests go out at once: a run reads every file of its month
    itself, whatever the sensor has read (`sources.index`), so a run requested early is exact,
    and waiting for a scan of thousands of files to end would hold every month back. A file
    listed unchanged since a request of the month (a sequence at least `since`, the one the
    look that first listed it as it is would take) is therefore read by that request's run,
    and does not ask for the month again: a first look at 10,000 files requests each month
    once, not once per tick of the scan.
    """
    return since is not None and state.requested.get(month, 0) >= since


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
