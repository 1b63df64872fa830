"""`anycost plan`: every month of each connection, the sources against what CloudZero holds and
what this adaptor last sent, like `terraform plan`. Sends nothing; exit 0 nothing to do, 2
changes pending, 1 a month that could not be judged."""

from collections.abc import Iterator
from contextlib import contextmanager

from upath import UPath

from anycost_pipeline.cli.common import (
    connection_id,
    connection_reads,
    open_client,
    progress,
    require_connection,
    say,
    where,
)
from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.month_state import (
    CLEAR,
    CONFLICT,
    HELD,
    SEND,
    UNCHANGED,
    MonthState,
)
from anycost_pipeline.config import AnycostConfig, load_config
from anycost_pipeline.connection_state import (
    exit_code,
    journal_of,
    judge,
    months_of,
    sent_before_start,
)
from anycost_pipeline.defs.in_memory import sources_now
from anycost_pipeline.defs.names import DROP
from anycost_pipeline.figures import counted


@contextmanager
def connections_to_plan(
    config: AnycostConfig, connections: list[str]
) -> Iterator[tuple[AnyCostClient, list[str]]]:
    for name in connections:
        require_connection(config, name)
    chosen = connections or list(config.connections)
    with open_client(config) as client:
        yield client, chosen


def plan(months: list[str], connections: list[str]) -> int:
    config = load_config()
    states: list[MonthState] = []
    with connections_to_plan(config, connections) as (client, chosen):
        for connection in chosen:
            with connection_reads(config, connection):
                states += _plan_connection(config, connection, client, months)
    if not connections:
        say_removed_connections(config)
    say()
    say(summary(states))
    return exit_code(states)


def _plan_connection(
    config: AnycostConfig, connection: str, client: AnyCostClient, months: list[str]
) -> list[MonthState]:
    """Judge and print the months of one connection."""
    cid = connection_id(config, connection)
    operation = config.connections[connection].operation
    wanted, later = months_of(config, connection, client, months)
    say(f"{connection} ({cid}, {operation}) in {where(config)}:")
    now, journal = sources_now(config, connection, progress), journal_of(config, cid)
    states = []
    for month in wanted:
        state = judge(month, operation, now, client, journal)
        states.append(state)
        settled = f"  [{state.now.settled}]" if state.now.settled else ""
        say(f"  {month}  {state.verdict:9}  {state.reason}{settled}")
    if not wanted:
        say("  no month: the sources hold none, and nothing was sent or is listed")
    if later:
        say(f"  (not judged: {', '.join(later)}, after this month (UTC))")
    say_before_start(config, connection)
    return states


def say_before_start(config: AnycostConfig, connection: str) -> None:
    """Name the months this adaptor sent that start_month now leaves out of every judgement."""
    early = sent_before_start(config, connection)
    if early:
        say(
            f"  (not judged: {', '.join(early)}, before start_month {config.start_month}; this "
            "adaptor sent them, and CloudZero keeps them as they are. Set start_month earlier "
            "to judge them again)"
        )


def removed_connections(config: AnycostConfig) -> dict[str, list[str]]:
    """The connections this adaptor sent months to (their `drop/<connection>` frames) that
    anycost.yaml no longer names, with those months: nothing judges them any more."""
    folder = UPath(config.frames_location) / DROP
    if not folder.is_dir():
        return {}
    found = {}
    for place in folder.iterdir():
        months = sorted(p.stem for p in place.glob("*.parquet")) if place.is_dir() else []
        if place.name not in config.connections and months:
            found[place.name] = months
    return dict(sorted(found.items()))


def say_removed_connections(config: AnycostConfig) -> None:
    """Name the connections anycost.yaml no longer names that this adaptor sent months to."""
    for connection, months in removed_connections(config).items():
        say(
            f"(not judged: connection {connection}, which anycost.yaml no longer names; this "
            f"adaptor sent {', '.join(months)} to it, and CloudZero keeps them as they are. To "
            "have them judged (cleared of what their sources left), name it again under "
            "`connections` with its connection_id: it needs no source)"
        )


def summary(states: list[MonthState]) -> str:
    by = {v: sum(1 for s in states if s.verdict == v) for v in (SEND, CLEAR, CONFLICT, HELD)}
    same = sum(1 for s in states if s.verdict == UNCHANGED)
    others = len(states) - same - sum(by.values())
    line = (
        f"Plan: {counted(by[SEND], 'month')} to send, {by[CLEAR]} to clear, "
        f"{by[CONFLICT]} in conflict, "
        + (f"{by[HELD]} held (final, changed late), " if by[HELD] else "")
        + f"{same} unchanged"
        + (f", {others} kept or not judged" if others else "")
        + ". Nothing was sent."
    )
    if by[SEND] or by[CLEAR]:
        line += " `anycost run` applies it."
    if by[HELD]:
        line += " A held month is sent only with `anycost run MONTH --force`."
    if by[CONFLICT]:
        line += " A conflict is never resolved by `anycost run` alone: its line says what to do."
    return line
