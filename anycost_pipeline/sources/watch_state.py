"""What the files sensor remembers of a source between looks, and the token its cursor keeps.

The memory (each file's fingerprint and months, the months waiting to be inside the project,
the latest request of each month) grows with the number of files, so it is kept in a state
file, `<state>/sensors/<source>.json`, written whole or not at all; Dagster's cursor keeps only
a token: the memory's epoch (a random name given when it is made) and the sequence of the last
look that requested something. Every look that requests a change takes the next sequence, and
the sequence is in each run key: Dagster skips a run key it has seen, for the sensor's whole
life, so a file that comes back to an earlier state (a fix reverted, a file deleted again)
still gets a new request.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.config import FilesSource

SENSORS = "sensors"


def settings_digest(source: FilesSource) -> str:
    """What decides a file's months: every setting of the source (a new timezone, time column
    or spread moves rows between months)."""
    return hashlib.sha256(source.model_dump_json().encode()).hexdigest()


@dataclass
class WatchState:
    """One source's memory. `files`: path → {"print", "key", "months", "problem"?, "stale"?}
    (content fingerprint, listing key, months held; `problem`: a row in no month or an
    unreadable file; `stale`: to be read again under new settings). `pending`: month → files
    that changed it while it was outside the project's months. `requested`: month → the
    sequence of its latest request. `unread`: path → [listing key, sequence, first] of the files a
    look had no time to read: the sequence from which a request reads them as they are, and
    the one from which requests read them at all (an older state's entry has no `first`)."""

    epoch: str
    sequence: int = 0
    settings: str = ""
    files: dict[str, dict] = field(default_factory=dict)
    pending: dict[str, list[str]] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    unread: dict[str, list] = field(default_factory=dict)

    @classmethod
    def new(cls, settings: str, sequence: int = 0, epoch: str | None = None) -> "WatchState":
        return cls(epoch=epoch or uuid.uuid4().hex[:8], sequence=sequence, settings=settings)

    def run_key(self, source: str, month: str, sequence: int) -> str:
        return f"{source}:{month}:{self.epoch}.{sequence}"

    def token(self) -> str:
        """The cursor: small whatever the number of files."""
        return json.dumps({"epoch": self.epoch, "sequence": self.sequence})


@dataclass(frozen=True)
class Token:
    """What a cursor says: the epoch of the memory and the last sequence Dagster saved."""

    epoch: str
    sequence: int


def parse_cursor(cursor: str | None) -> tuple[Token | None, dict[str, list] | None]:
    """The token of a cursor, or the files of a cursor written before the state file existed
    (path → [fingerprint, months, listing key]), so an upgrade does not send every month again."""
    if not cursor:
        return None, None
    try:
        data = json.loads(cursor)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    if isinstance(data.get("files"), dict):
        return None, data["files"]
    if isinstance(data.get("epoch"), str) and isinstance(data.get("sequence"), int):
        return Token(data["epoch"], data["sequence"]), None
    return None, None


def from_old_cursor(files: dict[str, list], settings: str) -> WatchState:
    state = WatchState.new(settings)
    for path, entry in files.items():
        fingerprint, months, key = (list(entry) + ["", [], ""])[:3]
        state.files[path] = {"print": fingerprint, "key": key, "months": list(months)}
        if not fingerprint:  # a file with a problem: read again
            state.files[path]["stale"] = True
    return state


def state_file(state: Path, source: str) -> Path:
    return state / SENSORS / f"{source}.json"


def load_state(path: Path) -> WatchState | None:
    """The memory, or None when there is none (or it cannot be read: the sensor starts again,
    requesting every month once, rather than trusting a damaged file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return WatchState(
            epoch=str(data["epoch"]),
            sequence=int(data["sequence"]),
            settings=str(data["settings"]),
            files=dict(data["files"]),
            pending=dict(data.get("pending", {})),
            requested={m: int(s) for m, s in data.get("requested", {}).items()},
            unread=dict(data.get("unread", {})),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(path: Path, state: WatchState) -> None:
    data = {
        "epoch": state.epoch,
        "sequence": state.sequence,
        "settings": state.settings,
        "files": state.files,
        "pending": state.pending,
        "requested": state.requested,
        "unread": state.unread,
    }
    write_text_atomically(path, json.dumps(data, sort_keys=True, separators=(",", ":")))
