"""Reconciliation: does CloudZero still hold what the pipeline last sent for a month?

Reads what CloudZero holds (the drop list, and with `compare_contents` the month's rows) and
judges it against the last accepted submission, in words for the check and `anycost reconcile`.
"""

from dataclasses import dataclass
from decimal import Decimal

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.submit import month_contents

REPLAY_HINT = (
    " If the month was sent with exactly the content of an earlier submission, CloudZero may have "
    "answered from its idempotency memory without applying it; see the README's Troubleshooting."
)


@dataclass(frozen=True)
class LastSent:
    """The last accepted submission of a month, as its materialisation recorded it."""

    rows: int
    total: Decimal
    drop_id: str | None  # the receipt of its last body: CloudZero's latest drop for the month
    drop_ids: tuple[str, ...] = ()  # every body's receipt, in order
    reported_rows: int | None = None  # the rows CloudZero listed for the month right after it


@dataclass(frozen=True)
class Held:
    """What CloudZero holds of the month: rows of our drops, its latest drop, its cost total."""

    rows: int
    drop_id: str | None
    total: Decimal | None = None  # only when the contents were compared
    per_drop: bool = False  # the drop list has an entry per drop, each with its own rows


@dataclass(frozen=True)
class Reconciliation:
    """The verdict on one month: whether CloudZero holds what was sent, and the figures."""

    passed: bool
    verdict: str
    sent_rows: int
    sent_total: Decimal
    held: Held


def read_held(
    client: AnyCostClient,
    connection_id: str,
    month: str,
    sent: LastSent | None,
    compare_contents: bool = False,
) -> Held:
    """Ask CloudZero what it holds of the month (the caller holds the connection's lock)."""
    listed = client.month_drops(connection_id, month, sent.drop_id if sent else None)
    rows = listed.rows_of(list(sent.drop_ids) if sent else [])
    drop_id = listed.ours.drop_id if listed.ours else None
    if sent and sent.drop_id and listed.newer_than(sent.drop_id):
        drop_id = listed.entries[-1].drop_id
    if not compare_contents:
        return Held(rows, drop_id, None, listed.per_drop)
    _, total = month_contents(client, connection_id, month)
    return Held(rows, drop_id, total, listed.per_drop)


def expected_rows(operation: str, sent: LastSent | None, held: Held) -> int:
    """The rows CloudZero should list for the month after the last submission: the rows sent
    when it replaced the month (or when the list counts each drop's own rows); else what
    CloudZero listed right after it, since `replace_hourly` and `sum` keep other rows."""
    if sent is None:
        return 0
    if operation == "replace_drop" or held.per_drop or sent.reported_rows is None:
        return sent.rows
    return sent.reported_rows


def reconcile(
    month: str,
    connection: str,
    connection_id: str,
    sent: LastSent | None,
    held: Held,
    operation: str = "replace_drop",
) -> Reconciliation:
    """Judge what CloudZero holds against the last submission (None: never submitted)."""
    sent_rows, sent_total = (sent.rows, sent.total) if sent else (0, Decimal(0))
    expected = expected_rows(operation, sent, held)
    whole = operation == "replace_drop"
    problems = []
    if held.rows != expected:
        after = (
            "the last submission sent"
            if expected == sent_rows
            else "it listed right after the last submission"
        )
        problems.append(f"CloudZero holds {held.rows:,} rows, {after} {expected:,}")
    elif sent and sent.drop_id and held.drop_id and held.drop_id != sent.drop_id:
        # Same row count, but another drop came after ours (or ours was answered from
        # CloudZero's idempotency memory without being applied): the contents may differ.
        problems.append(
            f"CloudZero's latest drop for the month is {held.drop_id}, not {sent.drop_id} from the "
            "last submission, so the month was changed since"
        )
    # Only a month replaced whole has a total to compare with: replace_hourly and sum keep
    # rows that earlier submissions left.
    if whole and held.total is not None and held.total != sent_total:
        problems.append(
            f"CloudZero's cost total is {held.total}, the last submission sent {sent_total}"
        )
    if problems:
        verdict = (
            f"{month} on connection {connection} ({connection_id}): "
            + "; ".join(problems)
            + ". "
            + ADVICE[operation]
            + (REPLAY_HINT if held.rows == expected and held.total in (None, sent_total) else "")
        )
    elif sent is None:
        verdict = f"{month} was never submitted and CloudZero holds no rows for it."
    elif whole:
        verdict = f"{month}: CloudZero holds what was last sent ({sent_rows:,} rows)."
    else:
        total = f", cost total {held.total}" if held.total is not None else ""
        verdict = (
            f"{month}: CloudZero holds the month as the last submission left it ({held.rows:,} "
            f"rows{total}; that {operation} submission sent {sent_rows:,} rows)."
        )
    return Reconciliation(not problems, verdict, sent_rows, sent_total, held)


ADVICE = {
    "replace_drop": "Rematerialise the month to send it again, or find out who changed it.",
    "replace_hourly": (
        "Rematerialising the month sends its hours again (each replaces only its own hours); "
        "find out who changed the others."
    ),
    "sum": (
        "Do not simply rematerialise: on a sum connection that adds the month again. Find out "
        "who changed it, then empty the month (anycost delete-month) and send it once more."
    ),
}
