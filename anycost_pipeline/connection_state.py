"""A connection's months at once: what the sources hold now, against what CloudZero holds and
what this adaptor last sent, one verdict per month (`cloudzero.month_state.judge_month`).

`anycost plan` prints it, `anycost run` with no months applies it to every month it names, and
the drop asset applies the same verdict to its own month when it sends. The months judged are
every month since `start_month`, up to this month, that a source holds now, that the journal
says this adaptor sent, or that CloudZero lists: a month that emptied is judged too.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.errors import CloudZeroError
from anycost_pipeline.cloudzero.journal import (
    CLEARED,
    UNCONFIRMED,
    JournalUnreadable,
    SubmissionJournal,
)
from anycost_pipeline.cloudzero.month_state import (
    KEPT,
    PENDING,
    UNKNOWN,
    Held,
    MonthState,
    Now,
    judge_month,
)
from anycost_pipeline.cloudzero.submit import confirm_later, read_held
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.months import Month

REFUSED = "refused"  # the sources' month cannot be sent as it stands (a failed check, ...)


class SourcesRefused(ValueError):
    """What the sources hold for a month cannot be sent; the message says why."""


@dataclass(frozen=True)
class Journal:
    """Where this adaptor's records of a connection are: the journal and the destination."""

    journal: SubmissionJournal
    destination: str
    connection_id: str

    def months(self) -> list[str]:
        return self.journal.months(self.destination, self.connection_id)

    def entry(self, month: str):  # -> Entry | None
        return self.journal.entry(self.destination, self.connection_id, month)


def source_months(config: AnycostConfig, sources: list[str] | None = None) -> list[str]:
    """The months that the sources' export files hold (all sources, or those named).

    Pulled sources (APIs, databases) are only read for months named on the command line.
    """
    import polars as pl

    from anycost_pipeline.cbf.hours import charge_ends, months_of, row_hours
    from anycost_pipeline.config import FilesSource
    from anycost_pipeline.sources.files import SourceFilesError, file_infos, read_each
    from anycost_pipeline.sources.index import months_of_unreadable, seen_files

    months: set[str] = set()
    for name, source in config.sources.items():
        if not isinstance(source, FilesSource) or (sources is not None and name not in sources):
            continue
        pattern = config.resolve_path(source.path)
        infos = file_infos(pattern)
        if not infos and seen_files(config.storage_path, name):
            continue  # every file was deleted: their months are judged from the journal
        if not infos:
            raise SourceFilesError(
                f"source {name!r}: no file matches {pattern!r}; check `path` in anycost.yaml"
            )
        frames = []
        for info, read in read_each(name, source, infos):
            try:
                frames.append(read())
            except SourceFilesError:
                # A file that cannot be read is judged with the months it holds, when they
                # can be told (its month then fails, naming it); otherwise nothing is judged.
                held = months_of_unreadable(name, source, info.path)
                if held is None:
                    raise
                months.update(held)
        if not frames:
            continue
        frame, _ = row_hours(pl.concat(frames, how="diagonal"), name, source)
        # A spread charge belongs to every month it has hours in (a Tokyo fee of local August
        # is in July and August, UTC).
        ends = charge_ends(frame, source) if source.spread is not None else None
        months.update(months_of(frame, ends))
    return sorted(m for m in months if m >= config.start_month)


def months_to_judge(
    start_month: str, *groups: Iterable[str], until: str | None = None
) -> tuple[list[str], list[str]]:
    """The months to judge (from `start_month` to `until`, this month by default) and the later
    ones named (their partitions do not exist yet)."""
    last = until or str(Month.current())
    named = sorted({m for group in groups for m in group if m >= start_month})
    return [m for m in named if m <= last], [m for m in named if m > last]


def judge(
    month: str,
    operation: str,
    now: Callable[[str], Now],
    client: AnyCostClient,
    journal: Journal,
    force: bool = False,
) -> MonthState:
    """One month's verdict for the plan: CloudZero's month read in full where it is not
    unchanged, so the words give its rows and cost before; `unknown` when CloudZero or the
    journal cannot be read, `refused` when the sources' month cannot be sent."""
    nothing = Held(0, None)
    try:
        sources = now(month)
    except SourcesRefused as refusal:
        return MonthState(month, REFUSED, str(refusal), Now(0, Decimal(0), ""), nothing)
    try:
        record = journal.entry(month)
        if record is not None and record.state == UNCONFIRMED:
            # As the drop does before judging (the plan writes nothing: the run records it).
            record = confirm_later(client, journal.connection_id, month, record)
        held = read_held(client, journal.connection_id, month, record)
        state = judge_month(month, operation, sources, record, held, force)
        if (state.pending or state.verdict == KEPT) and held.rows and held.total is None:
            held = read_held(client, journal.connection_id, month, record, contents=True)
            state = judge_month(month, operation, sources, record, held, force)
    except JournalUnreadable as error:
        return MonthState(month, UNKNOWN, str(error), sources, nothing)
    except CloudZeroError as error:
        why = f"CloudZero could not be read: {error}"
        return MonthState(month, UNKNOWN, why, sources, nothing)
    return state


def exit_code(states: Iterable[MonthState]) -> int:
    """0 nothing to do, 2 changes pending, 1 a month could not be judged or sent."""
    verdicts = {s.verdict for s in states}
    if verdicts & {UNKNOWN, REFUSED}:
        return 1
    return 2 if verdicts & set(PENDING) else 0


def journal_of(config: AnycostConfig, cid: str) -> Journal:
    """This adaptor's records of a connection at the configured target."""
    from anycost_pipeline.defs.resources import cloudzero_resource

    resource = cloudzero_resource(config)
    return Journal(resource.ledger(), resource.destination(), cid)


def connection_id(config: AnycostConfig, connection: str) -> str:
    """The CloudZero id of a configured connection, at the configured target."""
    return config.connections[connection].resolve_id(
        connection, sandbox=config.cloudzero.target == "sandbox"
    )


def estimated_months(config: AnycostConfig, connection: str, since: str) -> list[str]:
    """The months from `since` whose last submission to the connection was labelled
    `estimated` (a month a `settles.when` rule keeps open), from the journal."""
    cid = connection_id(config, connection)
    journal = journal_of(config, cid)
    found = []
    for month in journal.months():
        try:
            record = journal.entry(month) if month >= since else None
        except JournalUnreadable:
            continue  # the month's own run says what is wrong with it
        if record is not None and record.data.get("settled") == "estimated":
            found.append(month)
    return found


def sent_before_start(config: AnycostConfig, connection: str) -> list[str]:
    """The months before start_month that this adaptor sent rows to (the journal's records of
    a submission with acknowledged bodies, not cleared since): they are no longer judged, so
    CloudZero keeps them as they are (a charge that moved out of one stays there)."""
    cid = connection_id(config, connection)
    journal = journal_of(config, cid)
    found = []
    for month in journal.months():
        if month >= config.start_month:
            continue
        try:
            record = journal.entry(month)
        except JournalUnreadable:
            continue  # judged again only if start_month includes it; its run names the file
        if record is not None and record.state != CLEARED and record.acknowledged:
            found.append(month)
    return found


def months_of(
    config: AnycostConfig, connection: str, client: AnyCostClient, named: list[str]
) -> tuple[list[str], list[str]]:
    """The months named, or every month since start_month that a source holds now, that this
    adaptor sent, or that CloudZero lists (and the later ones, which are not judged yet)."""
    if named:
        return months_to_judge(config.start_month, [str(Month.parse(m)) for m in named])
    cid = connection_id(config, connection)
    return months_to_judge(
        config.start_month,
        source_months(config, list(config.sources_of(connection))),
        journal_of(config, cid).months(),
        client.listed_months(cid),
    )
