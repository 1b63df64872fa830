"""Sending one month to a connection safely: limits, one at a time, unchanged months skipped.

`send_month` is what the drop asset calls. It refuses a month over CloudZero's limits before
sending anything, holds the connection's lock for the whole month, skips a month whose content
CloudZero already holds (CloudZero charges processing per drop), sends the bodies in order and
checks the row count CloudZero reports afterwards.
"""

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from anycost_pipeline.cloudzero.client import AnyCostClient, Submission
from anycost_pipeline.cloudzero.errors import CloudZeroError, MonthOverLimit
from anycost_pipeline.cloudzero.locks import connection_lock

log = logging.getLogger(__name__)

SENT = "sent"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Limits:
    """CloudZero's per-connection, per-month limits (configurable: CloudZero may change them)."""

    rows_per_month: int = 1_000_000
    bytes_per_month: int = 400_000_000


class RowCountMismatch(CloudZeroError):
    """CloudZero reports a different row count for the month than was sent."""


@dataclass(frozen=True)
class MonthOutcome:
    """What happened to one month: sent now, or left alone because CloudZero already holds it."""

    status: str
    rows: int
    bytes: int
    reported_rows: int
    content_hash: str
    submission: Submission | None = None
    previous: dict | None = None


def check_limits(month: str, rows: int, size: int, limits: Limits) -> None:
    """Refuse a month CloudZero would not accept, before anything is sent."""
    problems = []
    if rows > limits.rows_per_month:
        problems.append(
            f"{rows:,} rows, {rows - limits.rows_per_month:,} over the limit of "
            f"{limits.rows_per_month:,} rows"
        )
    if size > limits.bytes_per_month:
        problems.append(
            f"{size:,} bytes, {size - limits.bytes_per_month:,} over the limit of "
            f"{limits.bytes_per_month:,} bytes"
        )
    if problems:
        raise MonthOverLimit(
            f"{month} has {' and '.join(problems)} per connection per month; nothing was sent",
            "Split the sources of this connection across several AnyCost Stream connections, "
            "or, if CloudZero has raised its limits for you, set cloudzero.limits in anycost.yaml.",
        )


class SubmissionLedger:
    """The last submission CloudZero accepted per destination, connection and month (JSON files)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def _path(self, destination: str, connection_id: str, month: str) -> Path:
        where = hashlib.sha256(f"{destination}|{connection_id}".encode()).hexdigest()[:24]
        return self.folder / where / f"{month}.json"

    def last(self, destination: str, connection_id: str, month: str) -> dict | None:
        path = self._path(destination, connection_id, month)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def record(self, destination: str, connection_id: str, month: str, entry: dict) -> None:
        path = self._path(destination, connection_id, month)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entry, indent=1), encoding="utf-8")
        os.replace(temporary, path)  # readers see the old record or the new one, never half


def held_rows(client: AnyCostClient, connection_id: str, month: str) -> int | None:
    """The row count CloudZero lists for the month (None: no drop for it)."""
    held = client.month_drop(connection_id, month)
    return int(held["row_count"]) if held else None


def send_month(
    client: AnyCostClient,
    connection_id: str,
    month: str,
    bodies: Sequence[tuple[str, bytes, int]],
    content_hash: str,
    *,
    lock_folder: Path | str,
    ledger: SubmissionLedger,
    destination: str,
    limits: Limits = Limits(),
    force: bool = False,
    submission_id: str | None = None,
) -> MonthOutcome:
    """Send the month's bodies `(operation, payload, rows)` unless CloudZero already holds them.

    The month counts as unchanged when the last accepted submission had the same content hash
    and CloudZero still lists the row count it had then; `force` sends anyway. After sending,
    a `replace_drop` month must hold exactly the rows sent; `replace_hourly` and `sum` months
    at least as many.
    """
    rows = sum(b[2] for b in bodies)
    size = sum(len(b[1]) for b in bodies)
    check_limits(month, rows, size, limits)
    with connection_lock(lock_folder, connection_id):
        previous = ledger.last(destination, connection_id, month)
        if previous and not force and previous.get("content_hash") == content_hash:
            listed = client.month_drop(connection_id, month)
            held = int(listed["row_count"]) if listed else None
            # Same rows *and* still our drop: another sender's month of equal size is not ours.
            ours = (
                not previous.get("drop_ids")
                or str(listed.get("drop_id")) == previous["drop_ids"][-1]
                if listed
                else False
            )
            if held is not None and held == previous.get("reported_rows") and ours:
                log.info(
                    "%s on %s is unchanged since %s; nothing sent",
                    month,
                    connection_id,
                    previous.get("sent_at"),
                )
                return MonthOutcome(UNCHANGED, rows, size, held, content_hash, None, previous)
        started = time.monotonic()
        submission = client.submit_month(connection_id, month, bodies, submission_id=submission_id)
        reported = held_rows(client, connection_id, month) or 0
        whole_month = bool(bodies) and bodies[0][0] == "replace_drop"
        if (whole_month and reported != rows) or reported < rows:
            raise RowCountMismatch(
                None,
                f"CloudZero reports {reported:,} rows for {month} on connection {connection_id}, "
                f"but {rows:,} were sent",
                "Rematerialise the month to send it again; if the numbers still differ, "
                "contact CloudZero support with the drop ids in the run log.",
            )
        ledger.record(
            destination,
            connection_id,
            month,
            {
                "content_hash": content_hash,
                "rows": rows,
                "reported_rows": reported,
                "bytes": size,
                "drop_ids": [b.drop_id for b in submission.bodies],
                "submission_id": submission.submission_id,
                "seconds": round(time.monotonic() - started, 3),
                "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        return MonthOutcome(SENT, rows, size, reported, content_hash, submission, previous)
