"""The submission journal: one durable record per destination, connection and month.

It is written when a submission is planned, again as CloudZero acknowledges each body, and when
the submission ends, each time atomically (a reader sees the old record or the new one, never
half) and synced to disk, so a run killed at any moment leaves a record of exactly the bodies
CloudZero acknowledged. Everything that reports or decides reads it: the unchanged-month skip,
the next run after an interruption, the drop asset's metadata and `anycost run`'s words.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.cloudzero.client import SentBody

SENDING = "sending"  # planned; bodies are being sent (a record left in this state was interrupted)
STOPPED = "stopped"  # a body failed; `acknowledged` says which went out before it
CONFIRMED = "confirmed"  # every body acknowledged and the drop list agrees
UNCONFIRMED = "unconfirmed"  # every body acknowledged, the drop list did not confirm it
CLEARED = "cleared"  # the month was emptied (an empty replace_drop): earlier submissions ended


class JournalUnreadable(ValueError):
    """A record that cannot be read or is not a record: the month it stands for is stopped
    (nothing is sent), since guessing 'never sent' could add a sum month twice."""


@dataclass(frozen=True)
class Entry:
    """One month's record, as stored (JSON)."""

    data: dict

    @property
    def state(self) -> str:
        # Records written before the journal had states held confirmed submissions only.
        if "state" in self.data:
            return str(self.data["state"])
        return CONFIRMED if self.data.get("confirmed", True) else UNCONFIRMED

    @property
    def acknowledged(self) -> dict[int, SentBody]:
        """The bodies CloudZero acknowledged, by index in the planned order."""
        return {
            int(a["index"]): SentBody(a["operation"], a["drop_id"], a["rows"], a["bytes"], a["key"])
            for a in self.data.get("acknowledged", [])
        }

    @property
    def planned(self) -> int:
        return len(self.data.get("planned", [])) or len(self.data.get("drop_ids", []))

    @property
    def interrupted(self) -> bool:
        """A submission that did not end with every body acknowledged."""
        return self.state in (SENDING, STOPPED)


class SubmissionJournal:
    """The journal's JSON files, one per destination, connection and month."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def _folder(self, destination: str, connection_id: str) -> Path:
        key = f"{same_destination(destination)}|{connection_id}"
        return self.folder / hashlib.sha256(key.encode()).hexdigest()[:24]

    def _path(self, destination: str, connection_id: str, month: str) -> Path:
        return self._folder(destination, connection_id) / f"{month}.json"

    def last(self, destination: str, connection_id: str, month: str) -> dict | None:
        """The month's record as stored, or None when there is none; raises JournalUnreadable
        for a record that cannot be read or is not a record."""
        path = self._path(destination, connection_id, month)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise JournalUnreadable(_damaged(path, month, f"cannot be read ({error})")) from None
        if not isinstance(data, dict) or not isinstance(data.get("acknowledged", []), list):
            raise JournalUnreadable(_damaged(path, month, "is not a submission record"))
        return data

    def months(self, destination: str, connection_id: str) -> list[str]:
        """The months the journal holds a record of for the connection at this destination."""
        return sorted(p.stem for p in self._folder(destination, connection_id).glob("*.json"))

    def entry(self, destination: str, connection_id: str, month: str) -> Entry | None:
        data = self.last(destination, connection_id, month)
        return Entry(data) if data is not None else None

    def record(self, destination: str, connection_id: str, month: str, entry: dict) -> None:
        """Replace the month's record atomically and durably."""
        path = self._path(destination, connection_id, month)
        write_text_atomically(path, json.dumps(entry, indent=1), durable=True)


def same_destination(destination: str) -> str:
    """One spelling for one API: scheme and host in lower case, loopback names as 127.0.0.1,
    default ports and trailing slashes left out (a test key's mark after `#` is kept)."""
    url, mark, trial = destination.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return destination
    host = parts.hostname.lower()
    if host in ("localhost", "::1") or host.startswith("127."):
        host = "127.0.0.1"
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}{mark}{trial}"


def _damaged(path: Path, month: str, why: str) -> str:
    return (
        f"the submission journal's record of {month} ({path}) {why}; nothing was sent for "
        f"{month}, since without it the adaptor cannot tell what it sent before. Look at what "
        "CloudZero holds (`anycost reconcile MONTH --connection CONNECTION --contents`), then delete the "
        "file (the next run then decides from CloudZero's holdings alone)."
    )


def acknowledgement(index: int, body: SentBody) -> dict:
    """A body's acknowledgement as the journal stores it."""
    return {
        "index": index,
        "operation": body.operation,
        "drop_id": body.drop_id,
        "rows": body.rows,
        "bytes": body.bytes,
        "key": body.idempotency_key,
    }
