"""One month of a connection judged: what the sources hold now, against what CloudZero holds
and what the adaptor last sent (its journal record).

`judge_month` is the one place that decides. `send_month` applies its verdict, `anycost plan`
prints it, `anycost run` reports it. The journal is evidence, never a substitute for reading
CloudZero: a record whose last drop CloudZero no longer holds as the newest of the month is not
continued, and a month CloudZero holds that the adaptor did not leave so is never added to on a
`sum` connection without `force`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial

from anycost_pipeline.cloudzero.answers import MonthListing
from anycost_pipeline.cloudzero.journal import CLEARED, CONFIRMED, Entry
from anycost_pipeline.settling import Settled, final_since

UNCHANGED = "unchanged"  # nothing to do: CloudZero holds what the sources hold
SEND = "send"  # the sources' month goes to CloudZero
CLEAR = "clear"  # the sources hold nothing now; CloudZero's month is emptied
KEPT = "kept"  # the sources hold nothing because their files are gone; CloudZero's month stays
CONFLICT = "conflict"  # CloudZero holds what the adaptor did not send; nothing is sent
UNKNOWN = "unknown"  # CloudZero (or the journal) could not be read
SUPERSEDED = "superseded"  # a newer read of the sources was sent already; nothing is sent
HELD = "held"  # a final month changed late and its sources say hold: nothing is sent

PENDING = (SEND, CLEAR, CONFLICT, HELD)  # verdicts that leave something to do


@dataclass(frozen=True)
class Evidence:
    """What the sources' month says beyond its rows about CloudZero's month (gathered by
    `delivery.month_to_send`)."""

    # An empty month: why CloudZero's month is kept. A month with rows: why it is kept if
    # sending it would leave CloudZero fewer rows (export files that held it are gone, and no
    # copy of the month as last sent tells which of its rows came from them).
    kept_because: str | None = None
    unclear_because: str | None = None  # an empty month: why keep or clear cannot be told
    never_held: bool = False  # an empty month: nothing shows the sources ever held it
    # Rows of the month as last sent whose origin is gone, sent again with the sources' month
    # (`gone_rows`): how many, their cost and where they came from, in words.
    carried: str | None = None


@dataclass(frozen=True)
class Now:
    """What the connection's sources hold for the month now."""

    rows: int
    total: Decimal
    content_hash: str  # of the bodies a submission would send
    evidence: Evidence = Evidence()
    reads: Mapping[str, int] = field(default_factory=dict)  # source → its read's number
    settled: Settled | None = None  # final or estimated (`settling`)


@dataclass(frozen=True)
class Held:
    """What CloudZero holds of the month: its rows (as listed or counted), its newest drop,
    and its cost total when the month's rows were read."""

    rows: int
    newest_drop: str | None
    total: Decimal | None = None
    per_drop: bool = False  # the drop list has an entry per drop, not per month
    unread: bool = False  # the drop list could not be read: nothing is known of the month


@dataclass(frozen=True)
class MonthState:
    """The verdict on one month, its reason in words, and what to do about a submission the
    journal holds: `resume` continues its unacknowledged bodies, otherwise a new one starts."""

    month: str
    verdict: str
    reason: str
    now: Now
    held: Held
    resume: bool = False
    late: str | None = None  # a final month changed late: since when it was final
    # A send that replaces rows this adaptor had not left there: what CloudZero held, in words.
    overwrites: str | None = None

    @property
    def pending(self) -> bool:
        return self.verdict in PENDING


def held_of(listing: MonthListing, counted: tuple[int, Decimal] | None = None) -> Held:
    """What CloudZero holds, from its drop list (a per-month list gives the month's rows) or,
    when given, from the month's rows as read (`counted`: rows and cost total)."""
    newest = listing.entries[-1].drop_id if listing.entries else None
    if counted is not None:
        return Held(counted[0], newest, counted[1], listing.per_drop)
    rows = listing.entries[-1].row_count if listing.entries else 0
    return Held(rows, newest, None, listing.per_drop)


def last_drop(record: Entry | None) -> str | None:
    """The drop id of the last body CloudZero acknowledged for the record's submission."""
    if record is None:
        return None
    ids = record.data.get("drop_ids") or [a["drop_id"] for a in record.data.get("acknowledged", [])]
    return ids[-1] if ids else None


def older_reads(now: Now, record: Entry | None) -> str | None:
    """Why the sources' month as read now is older than the last submission's (None: it is
    not), from the read numbers of each source (`sources.reads`)."""
    sent = (record.data.get("reads") if record is not None else None) or {}
    older = {
        source: (number, int(sent[source]))
        for source, number in now.reads.items()
        if source in sent and number < int(sent[source])
    }
    if not older:
        return None
    which = "; ".join(
        f"source {source}: this run's read is number {mine}, the last one sent number {theirs}"
        for source, (mine, theirs) in sorted(older.items())
    )
    return (
        "a later read of the sources was sent, or started to be sent, already (" + which + "), "
        "so this run's older data is not sent over it. Nothing was sent: CloudZero's month is "
        "left to that later run's submission. Run the month again to read the sources anew "
        "(`--force` sends this run's data anyway, e.g. after the state folder was made anew)"
    )


def _figures(rows: int, total: Decimal | None) -> str:
    places = max(2, -int(total.as_tuple().exponent)) if total is not None else 0
    cost = f", cost {total:.{places}f}" if total is not None else ""  # exact: Decimal's format
    return f"{rows:,} row{'s' if rows != 1 else ''}{cost}"


# The way out of a conflict over a month the sources hold nothing for.
_EMPTY_OR_LEAVE = (
    "Nothing is sent: if CloudZero should hold nothing for it that this adaptor did not send, "
    "empty it (`anycost delete-month CONNECTION MONTH --yes-delete-month`) and run again; if "
    "the other rows belong there, leave it, and each run names it until then"
)


def judge_month(
    month: str, operation: str, now: Now, record: Entry | None, held: Held, force: bool = False
) -> MonthState:
    """The month's verdict. `record` is the journal's record of the last submission (None:
    never sent, as far as this adaptor knows); `held` what CloudZero holds now."""
    state = _late(_judged(month, operation, now, record, held, force), record, force)
    carried = now.evidence.carried
    if carried and state.verdict in (SEND, UNCHANGED, HELD):
        state = replace(state, reason=f"{state.reason}; {carried}")
    return state


def _late(state: MonthState, record: Entry | None, force: bool) -> MonthState:
    """A month CloudZero holds as final whose sources changed since: said loudly when it is
    sent or cleared, and held instead (nothing sent) when a source says `late_change: hold`,
    until `--force`."""
    settled = state.now.settled
    if state.verdict not in (SEND, CLEAR) or state.resume or record is None or settled is None:
        return state
    since = final_since(record.data, settled)
    if since is None:
        return state
    late = (
        f"LATE CHANGE: {state.month} has been final at CloudZero since {since} and its sources "
        "have changed since then"
    )
    if settled.hold_late and not force:
        return replace(
            state,
            late=since,
            verdict=HELD,
            reason=f"{late}; held, because a source says `settles: {{late_change: hold}}`: "
            f"{state.reason}. Nothing is sent: check the change, then send it with "
            f"`anycost run {state.month} --force`",
        )
    done = "it is sent again" if state.verdict == SEND else "it is cleared"
    again = f"{late}; {done}. {state.reason[:1].upper()}{state.reason[1:]}"
    return replace(state, late=since, reason=again)


def _judged(
    month: str, operation: str, now: Now, record: Entry | None, held: Held, force: bool
) -> MonthState:
    ours = last_drop(record)
    # CloudZero still holds the month as the adaptor left it: the newest drop is the last one
    # acknowledged to the adaptor, with the rows it listed then.
    as_left = (
        record is not None
        and record.state in (CONFIRMED, CLEARED)
        and ours is not None
        and held.newest_drop == ours
        # A per-drop list counts each drop's own rows; there the newest drop being ours says
        # that nothing was written after it.
        and (held.per_drop or held.rows == int(record.data.get("reported_rows") or 0))
    )
    state = partial(MonthState, month, now=now, held=held)
    holds = f"CloudZero holds {_figures(held.rows, held.total)}"
    older = older_reads(now, record)
    if older and not force:
        # Two runs of the month overlapped and the one that read later sent first: what this
        # run read is older than what CloudZero was sent. (`force` overrides: a state folder
        # made anew starts the numbers again.)
        return state(SUPERSEDED, older)
    if held.unread:
        # Only a month that replaces what CloudZero holds is judged without reading it.
        return state(
            SEND,
            "CloudZero's drop list could not be read; the month is sent, which replaces what "
            f"it holds, with {_figures(now.rows, now.total)}",
        )
    if now.rows == 0:
        if held.rows == 0:
            return state(UNCHANGED, "the sources hold nothing and CloudZero holds nothing")
        if record is None and now.evidence.kept_because and not now.evidence.never_held:
            # Files that held it are gone (a vendor's retention) or a pull returned nothing:
            # kept, as with a record; the lost journal does not make it someone else's.
            return state(KEPT, f"{holds}; kept, because {now.evidence.kept_because}")
        if record is None:
            # Not cleared (its files may be gone with the journal) and not passed over either:
            # the month differs from the sources' and nothing this adaptor knows explains it.
            return state(
                CONFLICT,
                f"{holds} that this adaptor never sent (another sender, or a journal that was "
                f"lost), and the sources hold nothing for the month. {_EMPTY_OR_LEAVE}",
            )
        if operation == "sum" and not as_left and not force:
            # The sources' sum month is what was added; CloudZero's is no longer that.
            return state(
                CONFLICT,
                f"{holds}, not as this adaptor left it (another sender wrote to the month after "
                "this adaptor's last submission or clearing), and the sources hold nothing for "
                f"the month. {_EMPTY_OR_LEAVE}",
            )
        if now.evidence.unclear_because:
            return state(
                CONFLICT,
                f"{holds}; {now.evidence.unclear_because}. Nothing is sent: empty the month "
                "(`anycost delete-month CONNECTION MONTH --yes-delete-month`) if it should hold "
                "nothing, or restore the files that are gone",
            )
        if now.evidence.kept_because:
            return state(KEPT, f"{holds}; kept, because {now.evidence.kept_because}")
        if operation != "replace_drop":
            # Only a replace_drop month's sources are the whole month: a sum connection's hold
            # what was not sent before, a replace_hourly connection's the hours they deliver.
            return state(
                KEPT,
                f"{holds}; the sources hold nothing for the month now, which on a {operation} "
                "connection does not mean it should be empty (they hold "
                + ("only what was not sent before" if operation == "sum" else "only some hours")
                + "): it is left as it is. `anycost delete-month` empties it",
            )
        return state(CLEAR, f"{holds}; the sources hold nothing now")
    if as_left and record.data.get("content_hash") == now.content_hash and not force:
        return state(UNCHANGED, f"{holds}, as last sent")
    shrinks = now.rows < held.rows
    if now.evidence.kept_because and shrinks and operation == "replace_drop" and not force:
        # Rows sent from a file that is gone (a vendor's retention) may be among those that
        # would go, and no copy of the month as last sent tells which (`gone_rows`): whatever
        # else changed, the month is not shrunk. (A month emptied since holds nothing to drop.
        # A replace_hourly body replaces only its own hours; a sum body adds.)
        return state(
            KEPT,
            f"{holds}; kept, because {now.evidence.kept_because}: sending the month as the "
            f"sources hold it now ({_figures(now.rows, now.total)}) would leave CloudZero fewer "
            "rows, and theirs may be among those that would go. If the month should hold only "
            "what the sources hold now, send it with `--force` (a source whose deleted files "
            "should leave their months says `deleted_files: remove`)",
        )
    if record is not None and record.interrupted and operation != "replace_drop":
        return _interrupted(state, record, held, holds, operation, now, force)
    if operation == "sum" and held.rows and not as_left and not force:
        why = (
            "that this adaptor never sent (another sender, or a lost journal)"
            if record is None
            else "not as this adaptor left it (another sender wrote to the month, or it was "
            "changed after a submission this adaptor could not confirm)"
        )
        return state(
            CONFLICT,
            f"{holds} {why}; on a sum connection sending adds the whole month to it, so nothing "
            "is sent. Look at what it holds (`anycost reconcile MONTH --connection CONNECTION --contents`): "
            "if it holds these rows already, nothing is to be done; if the month should hold "
            "exactly the sources' rows, empty it (`anycost delete-month`) and run again; if "
            "the other rows belong there, send with `--force` to add the sources' rows.",
        )
    before = f"{holds} now" if held.rows else "CloudZero holds nothing now"
    # Rows this adaptor did not leave: no record, or a newest drop that is not its last one (its
    # own interrupted or unconfirmed submission is not someone else's).
    foreign = record is None or held.newest_drop != ours
    if held.rows and not as_left and foreign and operation == "replace_drop":
        before += ", not as this adaptor left it; the sources' month replaces it"
        overwritten = (
            f"CloudZero held {_figures(held.rows, held.total)} that this adaptor had not left "
            "there (another sender, or a journal that was lost); the sources' month replaced it"
        )
        return state(
            SEND,
            f"{before}; the sources hold {_figures(now.rows, now.total)}",
            overwrites=overwritten,
        )
    if operation == "sum" and held.rows:
        # The sum contract: the sources' month holds only charges not sent before.
        return state(
            SEND,
            f"{before}, as last sent; the sources' {_figures(now.rows, now.total)} are added "
            "to it (operation sum)",
        )
    return state(SEND, f"{before}; the sources hold {_figures(now.rows, now.total)}")


def _interrupted(
    state: Callable[..., MonthState],
    record: Entry,
    held: Held,
    holds: str,
    operation: str,
    now: Now,
    force: bool,
) -> MonthState:
    """An interrupted `sum` or `replace_hourly` submission: continued only while the content is
    the same and CloudZero's rows can be that submission's (its acknowledged bodies at least,
    all its bodies at most, beside what the month held before it)."""
    acknowledged = record.acknowledged
    same = record.data.get("content_hash") == now.content_hash
    # CloudZero holds the acknowledged bodies, and perhaps later ones whose answers were lost
    # (sent again under their first idempotency keys, they are answered from CloudZero's
    # memory, not applied twice): the month's rows lie between what it held before plus the
    # acknowledged bodies and plus all of them. An emptied month (rows 0) holds none of it:
    # it is sent anew, under new keys, since CloudZero's memory would answer the old ones
    # without applying them.
    before = int(record.data.get("held_before") or 0)
    acked_rows = sum(b.rows for b in acknowledged.values())
    planned_rows = int(record.data.get("rows") or 0)
    still_held = held.rows > 0 and before + acked_rows <= held.rows <= before + planned_rows
    if same and still_held:
        return state(
            SEND,
            f"a submission was interrupted after {len(acknowledged)} of {record.planned} bodies "
            "were acknowledged; it is continued under the same idempotency keys",
            resume=True,
        )
    if operation == "replace_hourly" or not held.rows or force:
        # Each replace_hourly body replaces its own hours; an empty sum month holds nothing
        # of the interrupted submission: the whole month is sent anew.
        return state(SEND, f"{holds}; the whole month is sent anew")
    why = (
        "the month's content has changed since, so it cannot simply be continued"
        if not same
        else "CloudZero holds rows that are not that submission's alone"
    )
    return state(
        CONFLICT,
        f"{holds}; the last submission ({len(acknowledged)} of {record.planned} bodies "
        f"acknowledged, {record.state}) was interrupted and {why}; on a sum connection sending "
        "the month again may add it twice, so nothing is sent. Check what CloudZero holds "
        "(`anycost reconcile MONTH --connection CONNECTION --contents`), empty it (`anycost delete-month`) "
        "and run again, or send with `--force`.",
    )
