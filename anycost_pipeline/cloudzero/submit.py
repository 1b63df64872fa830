"""Sending one month to a connection safely: limits, one at a time, unchanged months skipped.

`send_month` is what the drop asset calls. It refuses a month over CloudZero's limits before
sending anything, holds the connection's lock for the whole month, skips a month whose content
CloudZero already holds (CloudZero charges processing per drop), sends the bodies in order and
checks the row count CloudZero reports afterwards.
"""

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Context, Decimal
from pathlib import Path

from anycost_pipeline.cloudzero.answers import MonthListing
from anycost_pipeline.cloudzero.client import (
    AnyCostClient,
    MonthRequests,
    SentBody,
    Submission,
    SubmissionStopped,
)
from anycost_pipeline.cloudzero.errors import CloudZeroError, MonthOverLimit, NotFound
from anycost_pipeline.cloudzero.journal import (
    CLEARED,
    CONFIRMED,
    SENDING,
    STOPPED,
    UNCONFIRMED,
    Entry,
    JournalUnreadable,
    SubmissionJournal,
    acknowledgement,
)
from anycost_pipeline.cloudzero.locks import connection_lock
from anycost_pipeline.cloudzero.month_state import (
    CLEAR,
    CONFLICT,
    HELD,
    KEPT,
    SUPERSEDED,
    Evidence,
    Held,
    MonthState,
    Now,
    held_of,
    judge_month,
    last_drop,
)
from anycost_pipeline.settling import Settled, declared_final, record_of

log = logging.getLogger(__name__)

SENT = "sent"
UNCHANGED = "unchanged"
CLEARED_STATUS = "cleared"  # the month was emptied: the sources hold nothing now
KEPT_STATUS = "kept"  # the sources hold nothing because their files are gone; nothing sent
_EXACT = Context(prec=1_000)  # sums of costs as read back, never rounded


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
        if cause is None:
            self._describe(message, None, message, "", "")
        else:
            self._describe(message, cause.status, cause.server_message, cause.advice, cause.host)


class MonthConflict(DeliveryFailed):
    """CloudZero holds what this adaptor did not send, and sending would add to it."""


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
            "holds first (`anycost reconcile MONTH --connection CONNECTION --contents`)."
        )
    if operation == "sum":
        return (
            "On a sum connection a re-run adds the month again if CloudZero applied that body: "
            "check what CloudZero holds first (`anycost reconcile MONTH --connection CONNECTION --contents`)."
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


def stopped(error: SubmissionStopped, operation: str, late: str = "") -> DeliveryFailed:
    """The words for a submission that stopped at a body, true whatever CloudZero holds
    (`late`: the words of a late change to a final month, said first)."""
    done, planned, month = len(error.accepted), error.planned, error.month
    if done == 0 and not error.maybe_applied:
        return DeliveryFailed(
            NOTHING_SENT,
            f"{late}Nothing was sent for {month}: body 1 of {planned} was not accepted. "
            f"{error.cause}",
            error.cause,
        )
    if done == 0:
        return DeliveryFailed(
            MAYBE_SENT,
            f"{late}{month}: CloudZero did not answer body 1 of {planned}, so it may or may not hold "
            f"it. {error.cause} {next_run(operation, 0)}",
            error.cause,
        )
    ids = ", ".join(b.drop_id for b in error.accepted)
    unsure = " (its answer was lost, so CloudZero may hold it too)" if error.maybe_applied else ""
    return DeliveryFailed(
        PARTLY_SENT,
        f"{late}{month} is partly sent: CloudZero accepted {done} of {planned} bodies (drop ids {ids}) "
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
    resumed_from: int = 0  # bodies acknowledged by an interrupted earlier run, not sent again
    state: MonthState | None = None  # the verdict the outcome applied


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


SubmissionLedger = SubmissionJournal  # the name used before the journal kept every body


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
    ledger: SubmissionJournal,
    destination: str,
    limits: Limits = Limits(),
    force: bool = False,
    submission_id: str | None = None,
    total: Decimal = Decimal(0),
    evidence: Evidence = Evidence(),
    operation: str | None = None,
    reads: Mapping[str, int] | None = None,
    settled: Settled | None = None,
) -> MonthOutcome:
    """Judge the month against what CloudZero holds and the journal (`month_state.judge_month`)
    and apply the verdict: send the bodies `(operation, payload, rows)`, clear the month (the
    sources hold nothing: `bodies` is then the empty month's one `replace_drop`), or leave it.

    A `conflict` (CloudZero holds what this adaptor did not send, on a connection where sending
    would add to it) is raised as DeliveryFailed with nothing sent. An interrupted `sum` or
    `replace_hourly` submission whose acknowledged bodies CloudZero still holds as the newest
    of the month is continued with its first idempotency keys; any other send is a new
    submission. After sending, a `replace_drop` month must hold exactly the rows sent;
    `replace_hourly` and `sum` months at least as many. `operation` is the connection's (what
    an empty month's clearing body does not tell); by default the first body's. `reads` are
    the read numbers of the sources' data (source → number): a month read before the one last
    sent is not sent (`superseded`), and a submission records them.
    """
    requests = MonthRequests.of(bodies)  # payloads are built only as they are sent
    rows, size = requests.rows, requests.bytes
    check_limits(month, rows, size, limits)
    first = requests.planned[0].operation if requests else "replace_drop"
    operation = operation or first
    shape = [(p.operation, b"", p.rows) for p in requests.planned]  # for `confirmed`
    with connection_lock(lock_folder, connection_id):
        try:
            record = ledger.entry(destination, connection_id, month)
        except JournalUnreadable as error:
            raise DeliveryFailed(NOTHING_SENT, str(error)) from None
        try:
            if record and record.state == UNCONFIRMED:
                record = confirm_later(client, connection_id, month, record)
                if record.state == CONFIRMED:
                    ledger.record(destination, connection_id, month, record.data)
            held = read_held(client, connection_id, month, record)
        except CloudZeroError as error:
            held = _unread(month, operation, rows, error)
        previous = record.data if record else None
        now = Now(rows, total, content_hash, evidence, dict(reads or {}), settled)
        state = judge_month(month, operation, now, record, held, force)
        if state.verdict in (CLEAR, KEPT) and state.held.total is None:
            # The words say what was emptied or kept: CloudZero's figures, not the journal's.
            state = judge_month(
                month,
                operation,
                now,
                record,
                read_held(client, connection_id, month, record, contents=True),
                force,
            )
        if state.verdict in (UNCHANGED, KEPT, SUPERSEDED):
            log.info("%s on %s: %s; nothing sent", month, connection_id, state.reason)
            if state.verdict == UNCHANGED and record is not None:
                _note_final(ledger, destination, connection_id, month, record, settled)
            status = {UNCHANGED: UNCHANGED, KEPT: KEPT_STATUS}.get(state.verdict, SUPERSEDED)
            return MonthOutcome(
                status, rows, size, state.held.rows, content_hash, None, previous, state=state
            )
        if state.verdict in (CONFLICT, HELD):
            label = f" ({month} is {settled})" if settled is not None else ""
            raise MonthConflict(
                NOTHING_SENT, f"Nothing was sent for {month}: {state.reason}{label}"
            )
        late = (
            f"LATE CHANGE: {month} had been final at CloudZero since {state.late}. "
            if state.late
            else ""
        )
        if late:
            log.warning("%s on %s: %s", month, connection_id, state.reason)
        resumed = record if state.resume else None
        entry = {
            "state": SENDING,
            "content_hash": content_hash,
            "operation": first,
            "submission_id": resumed.data["submission_id"] if resumed else submission_id,
            "planned": [
                {"operation": p.operation, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256}
                for p in requests.planned
            ],
            "acknowledged": resumed.data.get("acknowledged", []) if resumed else [],
            "rows": rows,
            "held_before": state.held.rows if not resumed else resumed.data.get("held_before", 0),
            "total": str(total),
            "bytes": size,
            # Never lower: a source absent now keeps the number of its last read sent.
            "reads": {**(previous or {}).get("reads", {}), **now.reads},
            **record_of(settled),
            # CloudZero may hold the final month until this submission is confirmed.
            "final_at": (previous or {}).get("final_at"),
            "started_at": _now(),
        }
        if not resumed or not entry["submission_id"]:
            # A new submission gets new idempotency keys: CloudZero must apply it, not answer
            # it from its memory of an earlier one that it no longer holds.
            entry["submission_id"] = submission_id or _new_id()
        ledger.record(destination, connection_id, month, entry)

        def acknowledged(index: int, body: SentBody) -> None:
            entry["acknowledged"].append(acknowledgement(index, body))
            ledger.record(destination, connection_id, month, entry)

        started = time.monotonic()
        try:
            submission = client.submit_month(
                connection_id,
                month,
                requests,
                submission_id=entry["submission_id"],
                acknowledged=resumed.acknowledged if resumed else None,
                on_ack=acknowledged,
            )
        except SubmissionStopped as error:
            entry["state"] = STOPPED
            entry["maybe_applied"] = error.maybe_applied
            ledger.record(destination, connection_id, month, entry)
            raise stopped(error, operation, late) from None
        entry.update(
            state=UNCONFIRMED,
            drop_ids=[b.drop_id for b in submission.bodies],
            seconds=round(time.monotonic() - started, 3),
            sent_at=_now(),
            reported_rows=None,
        )
        accepted = (
            f"{late}CloudZero accepted {_bodies(len(requests))} of {month} ({rows:,} rows, drop ids "
            f"{', '.join(b.drop_id for b in submission.bodies)}) on connection {connection_id}"
        )
        try:
            listing = client.month_drops(connection_id, month, submission.bodies[-1].drop_id)
        except CloudZeroError as error:
            ledger.record(destination, connection_id, month, entry)
            raise SentButNotListed(
                SENT_UNCONFIRMED,
                f"{accepted}, but reading its drop list afterwards failed ({error.server_message}, "
                f"from {error.host or 'CloudZero'}), so the month's row count is not confirmed. "
                f"The data was sent. {_check_later(operation)}",
                error,
            ) from None
        problem = confirmed(listing, shape, submission.bodies[-1].drop_id)
        reported = listing.ours.row_count if listing.ours else 0
        entry["reported_rows"] = reported if listing.ours else None
        if problem:
            ledger.record(destination, connection_id, month, entry)
            kind = SentButNotListed if listing.ours is None else RowCountMismatch
            raise kind(
                SENT_UNCONFIRMED,
                f"{accepted}, but {problem}. The data was sent. {_check_later(operation)}",
            )
        entry.update(state=CLEARED if state.verdict == CLEAR else CONFIRMED, confirmed=True)
        entry["final_at"] = entry["sent_at"] if declared_final(settled) else None
        ledger.record(destination, connection_id, month, entry)
        resumed_from = len(resumed.acknowledged) if resumed else 0
        status = CLEARED_STATUS if state.verdict == CLEAR else SENT
        return MonthOutcome(
            status, rows, size, reported, content_hash, submission, previous, resumed_from, state
        )


def _note_final(
    ledger: SubmissionJournal,
    destination: str,
    connection_id: str,
    month: str,
    record: Entry,
    settled: Settled | None,
) -> None:
    """A month found unchanged while it is final: from now on CloudZero holds it final, so a
    later change to it is a late one (see `settling.final_since`)."""
    if declared_final(settled) and record.state in (CONFIRMED, CLEARED):
        if not record.data.get("final_at"):
            ledger.record(destination, connection_id, month, {**record.data, "final_at": _now()})


def _unread(month: str, operation: str, rows: int, error: CloudZeroError) -> Held:
    """What to assume when CloudZero's drop list cannot be read before sending: a month that
    replaces (`replace_drop`, or `replace_hourly` hours) is sent anyway, since sending it leaves
    the same month whatever CloudZero held (at worst it is sent once more than needed, as if
    changed); a `sum` month, or an empty one, is not sent without knowing what CloudZero holds."""
    if operation != "sum" and rows:
        return Held(0, None, None, unread=True)
    raise DeliveryFailed(
        NOTHING_SENT,
        f"Nothing was sent for {month}: CloudZero's drop list could not be read "
        f"({error.server_message}, from {error.host or 'CloudZero'}), so what it holds of the "
        "month is not known"
        + (
            "; on a sum connection the month is not sent without knowing, since it could be "
            "added twice"
            if operation == "sum"
            else "; the sources hold nothing for it, and it is only cleared once CloudZero "
            "shows that this adaptor's submission is what it holds"
        )
        + ". Run it again when CloudZero answers.",
        error,
    ) from None


def read_held(
    client: AnyCostClient,
    connection_id: str,
    month: str,
    record: Entry | None,
    contents: bool = False,
) -> Held:
    """What CloudZero holds of the month: from its drop list, and from the month's rows when
    asked or when the list has an entry per drop (its row counts are then the drops' own)."""
    listing = client.month_drops(connection_id, month, last_drop(record))
    if not (contents or listing.per_drop):
        return held_of(listing)
    return held_of(listing, month_contents(client, connection_id, month))


def month_contents(client: AnyCostClient, connection_id: str, month: str) -> tuple[int, Decimal]:
    """The rows CloudZero holds for the month and their exact cost total (0 for no month)."""
    try:
        found = client.get_billing_drop(connection_id, month)
    except NotFound:
        found = []
    total = Decimal(0)
    for row in found:  # exact: Python's default context rounds at 28 digits
        total = _EXACT.add(total, Decimal(str(row.get("cost/cost") or 0)))
    return len(found), total


def confirm_later(client: AnyCostClient, connection_id: str, month: str, record: Entry) -> Entry:
    """A submission whose every body was accepted but whose drop list did not confirm it:
    confirmed now if CloudZero lists it as sent (its last drop, with the rows expected)."""
    planned = [(p["operation"], b"", int(p["rows"])) for p in record.data.get("planned", [])]
    drop_ids = record.data.get("drop_ids") or []
    if not planned or not drop_ids:
        return record
    listing = client.month_drops(connection_id, month, drop_ids[-1])
    if confirmed(listing, planned, drop_ids[-1]) is not None or listing.ours is None:
        return record
    log.info("%s on %s: the last submission is confirmed now", month, connection_id)
    return Entry(
        {
            **record.data,
            "state": CONFIRMED,
            "confirmed": True,
            "reported_rows": listing.ours.row_count,
        }
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_id() -> str:
    return uuid.uuid4().hex


def _check_later(operation: str) -> str:
    if operation == "sum":
        return (
            "The next run reads CloudZero's drop list first: it sends nothing more unless it can "
            "confirm this submission (a sum month sent again would be added twice). To look "
            "yourself: `anycost reconcile MONTH --connection CONNECTION --contents`."
        )
    return (
        "The next run sends the month again only if CloudZero does not then list it as sent; "
        "to look yourself: `anycost reconcile MONTH --connection CONNECTION --contents`, and if it still "
        "differs, contact CloudZero support with the drop ids above."
    )
