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

from anycost_pipeline.cloudzero.answers import MonthListing
from anycost_pipeline.cloudzero.client import AnyCostClient, Submission, SubmissionStopped
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


NOTHING_SENT = "nothing sent"
MAYBE_SENT = "maybe sent"
PARTLY_SENT = "partly sent"
SENT_UNCONFIRMED = "sent, not confirmed"


class DeliveryFailed(CloudZeroError):
    """The month was not delivered as planned; `state` says what CloudZero may hold now:
    NOTHING_SENT, MAYBE_SENT (the first body's answer was lost), PARTLY_SENT (some bodies
    accepted) or SENT_UNCONFIRMED (every body accepted, the drop list disagrees)."""

    def __init__(self, state: str, message: str, cause: CloudZeroError | None = None) -> None:
        self.state = state
        self.status = cause.status if cause else None
        self.server_message = cause.server_message if cause else message
        self.host = cause.host if cause else ""
        RuntimeError.__init__(self, message)


class RowCountMismatch(DeliveryFailed):
    """Every body was accepted, but CloudZero lists another row count for the month."""


class SentButNotListed(DeliveryFailed):
    """Every body was accepted, but CloudZero's drop list does not show the month (or our drop)."""


def next_run(operation: str, accepted: int) -> str:
    """What running the month again does, for the connection's operation."""
    if operation == "sum" and accepted:
        return (
            "Do not simply run the month again: on a sum connection every body adds to the "
            f"month, so the {accepted} accepted bodies would be added twice; check what CloudZero "
            "holds first (anycost reconcile CONNECTION MONTH --contents)."
        )
    if operation == "sum":
        return (
            "On a sum connection a re-run adds the month again if CloudZero applied that body: "
            "check what CloudZero holds first (anycost reconcile CONNECTION MONTH --contents)."
        )
    if operation == "replace_hourly":
        return (
            "Running the month again sends every body again; each replaces only its own hours, "
            "so nothing is counted twice."
        )
    return (
        "Running the month again sends it whole from body 1, which replaces what CloudZero "
        "holds for the month."
    )


def stopped(error: SubmissionStopped, operation: str) -> DeliveryFailed:
    """The words for a submission that stopped at a body, true whatever CloudZero holds."""
    done, planned, month = len(error.accepted), error.planned, error.month
    if done == 0 and not error.maybe_applied:
        return DeliveryFailed(
            NOTHING_SENT,
            f"Nothing was sent for {month}: CloudZero refused body 1 of {planned}. {error.cause}",
            error.cause,
        )
    if done == 0:
        return DeliveryFailed(
            MAYBE_SENT,
            f"{month}: CloudZero did not answer body 1 of {planned}, so it may or may not hold "
            f"it. {error.cause} {next_run(operation, 0)}",
            error.cause,
        )
    ids = ", ".join(b.drop_id for b in error.accepted)
    unsure = " (its answer was lost, so CloudZero may hold it too)" if error.maybe_applied else ""
    return DeliveryFailed(
        PARTLY_SENT,
        f"{month} is partly sent: CloudZero accepted {done} of {planned} bodies (drop ids {ids}) "
        f"before body {done + 1} failed{unsure}. {error.cause} {next_run(operation, done)}",
        error.cause,
    )


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
    """The row count CloudZero lists for the month's newest drop (None: no drop for it)."""
    ours = client.month_drops(connection_id, month).ours
    return ours.row_count if ours else None


def confirmed(
    listing: MonthListing, bodies: Sequence[tuple[str, bytes, int]], last_drop: str
) -> str | None:
    """Why the drop list does not confirm the bodies just accepted (None: it does).

    The reference does not say whether the list holds one entry per month (the rows the month
    holds) or one per drop (each drop's own rows): both are read. A month replaced whole must
    hold exactly the rows sent; `replace_hourly` and `sum` months at least as many.
    """
    rows = sum(b[2] for b in bodies)
    ours = listing.ours
    if ours is None:
        return (
            "its drop list does not show the month"
            if not listing.entries
            else (f"its drop list does not show drop {last_drop}, the last one it acknowledged")
        )
    if listing.per_drop:
        expected, exact = bodies[-1][2], True
    else:
        expected, exact = rows, bodies[0][0] == "replace_drop"
    other = (
        f" (its newest drop for the month is {ours.drop_id}, not {last_drop})"
        if (ours.drop_id and ours.drop_id != last_drop)
        else ""
    )
    if not other and (ours.row_count == expected or (not exact and ours.row_count > expected)):
        return None
    return f"CloudZero reports {ours.row_count:,} rows for it where {expected:,} were sent{other}"


def _bodies(count: int) -> str:
    return "the 1 body" if count == 1 else f"all {count} bodies"


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
    operation = bodies[0][0] if bodies else "replace_drop"
    with connection_lock(lock_folder, connection_id):
        previous = ledger.last(destination, connection_id, month)
        if previous and not force and previous.get("content_hash") == content_hash:
            last_drop = (previous.get("drop_ids") or [None])[-1]
            ours = client.month_drops(connection_id, month, last_drop).ours
            # Same rows *and* still our drop: another sender's month of equal size is not ours.
            if (
                ours is not None
                and ours.row_count == previous.get("reported_rows")
                and (last_drop is None or ours.drop_id == last_drop)
                and previous.get("confirmed", True)
            ):
                log.info(
                    "%s on %s is unchanged since %s; nothing sent",
                    month,
                    connection_id,
                    previous.get("sent_at"),
                )
                held = ours.row_count
                return MonthOutcome(UNCHANGED, rows, size, held, content_hash, None, previous)
        if previous and not previous.get("confirmed", True) and operation == "sum" and not force:
            raise DeliveryFailed(
                NOTHING_SENT,
                f"Nothing was sent for {month}: its last submission to connection {connection_id} "
                f"(sent {previous.get('sent_at')}) was accepted but never confirmed, and on a sum "
                "connection sending again adds the month a second time. Check what CloudZero "
                "holds (anycost reconcile CONNECTION MONTH --contents), then send with force",
            )
        started = time.monotonic()
        try:
            submission = client.submit_month(
                connection_id, month, bodies, submission_id=submission_id
            )
        except SubmissionStopped as error:
            raise stopped(error, operation) from None
        accepted = (
            f"CloudZero accepted {_bodies(len(bodies))} of {month} ({rows:,} rows, drop ids "
            f"{', '.join(b.drop_id for b in submission.bodies)}) on connection {connection_id}"
        )
        entry = {
            "content_hash": content_hash,
            "rows": rows,
            "reported_rows": None,
            "bytes": size,
            "drop_ids": [b.drop_id for b in submission.bodies],
            "submission_id": submission.submission_id,
            "seconds": round(time.monotonic() - started, 3),
            "sent_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "confirmed": False,
        }
        try:
            listing = client.month_drops(connection_id, month, submission.bodies[-1].drop_id)
        except CloudZeroError as error:
            ledger.record(destination, connection_id, month, entry)
            raise SentButNotListed(
                SENT_UNCONFIRMED,
                f"{accepted}, but reading its drop list afterwards failed, so the month's row "
                f"count is not confirmed. The data was sent. {error} {_check_later(operation)}",
                error,
            ) from None
        problem = confirmed(listing, bodies, submission.bodies[-1].drop_id)
        reported = listing.ours.row_count if listing.ours else 0
        entry["reported_rows"] = reported if listing.ours else None
        if problem:
            ledger.record(destination, connection_id, month, entry)
            kind = SentButNotListed if listing.ours is None else RowCountMismatch
            raise kind(
                SENT_UNCONFIRMED,
                f"{accepted}, but {problem}. The data was sent. {_check_later(operation)}",
            )
        ledger.record(destination, connection_id, month, {**entry, "confirmed": True})
        return MonthOutcome(SENT, rows, size, reported, content_hash, submission, previous)


def _check_later(operation: str) -> str:
    advice = (
        "Check the month with `anycost reconcile CONNECTION MONTH --contents` before running it "
        "again"
    )
    if operation == "sum":
        return advice + ": on a sum connection a re-run adds the month a second time."
    return advice + "; if it still differs, contact CloudZero support with the drop ids above."
