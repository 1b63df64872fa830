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

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.cloudzero.client import SentBody

SENDING = "sending"  # planned; bodies are being sent (a record left in this state was interrupted)
STOPPED = "stopped"  # a body failed; `acknowledged` says which went out before it
CONFIRMED = "confirmed"  # every body acknowledged and the drop list agrees
UNCONFIRMED = "unconfirmed"  # every body acknowledged, the drop list did not confirm it


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

    def _path(self, destination: str, connection_id: str, month: str) -> Path:
        where = hashlib.sha256(f"{destination}|{connection_id}".encode()).hexdigest()[:24]
        return self.folder / where / f"{month}.json"

    def last(self, destination: str, connection_id: str, month: str) -> dict | None:
        """The month's record as stored, or None."""
        path = self._path(destination, connection_id, month)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def entry(self, destination: str, connection_id: str, month: str) -> Entry | None:
        data = self.last(destination, connection_id, month)
        return Entry(data) if data is not None else None

    def record(self, destination: str, connection_id: str, month: str, entry: dict) -> None:
        """Replace the month's record atomically and durably."""
        path = self._path(destination, connection_id, month)
        write_text_atomically(path, json.dumps(entry, indent=1), durable=True)


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
