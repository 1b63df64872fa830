"""`anycost run`: read, convert, check and send months end to end, as the Dagster job does."""

import functools
import sys
import uuid

from anycost_pipeline.cbf.corrections import CORRECTIONS_NOTE
from anycost_pipeline.cli import heap
from anycost_pipeline.cli.common import (
    definitions,
    deliveries,
    progress,
    require_partition_months,
    say,
)
from anycost_pipeline.cli.home import dagster_home
from anycost_pipeline.cli.waiting import (
    StoppedWaiting,
    end_stopped_run,
    interrupts_stop_slot_waits,
    wait_for_slots,
)
from anycost_pipeline.cloudzero.month_state import SUPERSEDED
from anycost_pipeline.cloudzero.submit import (
    KEPT_STATUS,
    MAYBE_SENT,
    NOTHING_SENT,
    PARTLY_SENT,
    SENT,
    SENT_UNCONFIRMED,
    UNCHANGED,
)
from anycost_pipeline.config import AnycostConfig, config_path, load_config
from anycost_pipeline.defs.names import (
    BODIES,
    CHANGE,
    DROP_IDS,
    LATE_CHANGE,
    ROWS,
    ROWS_WITHOUT_A_COST,
    SETTLED,
    STATUS,
    SUBMIT_MONTH,
    TOTAL_COST_EXACT,
    VERDICT,
    drop_op,
)
from anycost_pipeline.defs.results import QUIET, failure_messages
from anycost_pipeline.figures import counted, shown
from anycost_pipeline.months import Month

AFTER_FAILURE = {
    NOTHING_SENT: "Nothing was sent for it; the message above says why and what to do.",
    MAYBE_SENT: "CloudZero may hold its first body; read the message above before running it again.",
    PARTLY_SENT: "CloudZero holds part of it; the message above says what running it again does.",
    SENT_UNCONFIRMED: "It was sent, but CloudZero's drop list did not confirm it; see above.",
    SENT: "It was sent; what failed is named above.",
    UNCHANGED: "CloudZero already held it, so nothing was sent; what failed is named above.",
}
UNKNOWN = "It is not known whether anything was sent; see the run log (dg dev)."
LEFT_ALONE = (KEPT_STATUS, SUPERSEDED)  # statuses of a month this run sent nothing to


def every_month(config: AnycostConfig) -> tuple[list[str], list[str]]:
    """The months `anycost run` with no month judges: for every connection, each month since
    start_month that a source holds now, that this adaptor sent, or that CloudZero lists (so a
    month that emptied is cleared); and the later months named, which wait for their month."""
    from anycost_pipeline.cli.common import connection_reads
    from anycost_pipeline.cli.plan import (
        connections_to_plan,
        say_before_start,
        say_removed_connections,
    )
    from anycost_pipeline.connection_state import months_of

    wanted: set[str] = set()
    later: set[str] = set()
    with connections_to_plan(config, []) as (client, chosen):
        for connection in chosen:
            with connection_reads(config, connection):
                now, after = months_of(config, connection, client, [])
            say_before_start(config, connection)
            wanted.update(now)
            later.update(after)
    say_removed_connections(config)
    return sorted(wanted), sorted(later)


def _say_materialised(result, month: str, connections: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One line per asset the run materialised: rows, cost, and for a drop what it sent."""
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        cost = shown(meta[TOTAL_COST_EXACT]) if TOTAL_COST_EXACT in meta else None
        if meta.get(ROWS_WITHOUT_A_COST):
            # Words are facts: a total that leaves rows out must not read as the month's.
            missing = counted(int(meta[ROWS_WITHOUT_A_COST]), "row")
            cost = f"{cost} (partial: {missing} without a readable cost)"
        line = f"   {mat.asset_key.to_user_string():28} rows={meta.get(ROWS)}  cost={cost}"
        if DROP_IDS in meta:
            line += f"  bodies={meta[BODIES]}  drop={meta[DROP_IDS]}"
        say(line)
        if CHANGE in meta:
            say(f"   {'':28} {' '.join(str(meta[CHANGE]).split())}")
        if CORRECTIONS_NOTE in meta:  # cbf/<source>: corrections to invoiced months, and where
            say(f"   {'':28} {meta[CORRECTIONS_NOTE]}")
        if STATUS in meta:
            where = _where(month, mat.asset_key.path[-1], connections)
            why = f": {meta[VERDICT]}" if meta[STATUS] != SENT and VERDICT in meta else ""
            say(f"   {where}: {meta[STATUS]}{why}")
            if SETTLED in meta:  # not "MONTH: word", which is the status line's form
                say(f"   {where} is {meta[SETTLED]}")
            if LATE_CHANGE in meta:
                say(f"   WARNING {where}: {meta[LATE_CHANGE]}")


def _stopped(instance, month: str, rest: list[str], connections: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Ctrl-C or SIGTERM while the month waited for a connection's slot: what each connection
    holds of the month, and the months not run."""
    states = end_stopped_run(instance, connections, month)
    print(f"\nanycost: stopped while {month} waited for a connection's slot.", file=sys.stderr)
    for connection, state in states.items():
        print(f"  {_where(month, connection, connections)}: {state}.", file=sys.stderr)
    if rest:
        print(f"  Not run: {', '.join(rest)}.", file=sys.stderr)
    return 130


def _where(month: str, connection: str, connections: list[str]) -> str:
    """`2024-08`, or `2024-08 (connection)` when the month goes to several connections."""
    return month if len(connections) == 1 else f"{month} ({connection})"


@functools.lru_cache(maxsize=1)
def submit_month_job(config_file: str, build: str):  # -> dg.JobDefinition
    """The submit_month job of the project in `config_file`, for Dagster to build by name.

    `build` is new for every `anycost run` and the same for each of its months, so the months
    of one run share one build, while a later run sees anycost.yaml (or a file it names) as it
    is then. Kept here: Dagster asks for it four times in a run's first month and twice in
    each later one (to check the job, then with its repository's load data), and keeps only
    the last of those itself (about 0.35 s a build for 50 sources).
    """
    return definitions(load_config(config_file)).resolve_job_def(SUBMIT_MONTH)


def run(months: list[str], force: bool = False) -> int:
    """Materialise raw → cbf → drop for each month; print what happened and where to look."""
    import dagster as dg

    from anycost_pipeline.defs.pools import prepare_pools, run_tags

    config = load_config()
    # Months named on the command line are checked before anything is read or recorded.
    require_partition_months(config, [str(Month.parse(m)) for m in months])
    home = dagster_home(config.base_dir)
    heap.imports_done()  # Dagster and its storage are loaded
    if not months:
        # Every month up to this month: a row dated later (a charge billed in advance, a fee
        # spread into next month's first UTC hours) waits for its month to begin.
        months, later = every_month(config)
        if later:
            say(
                f"(not sent: {', '.join(later)}, after this month (UTC); "
                f"{'its partition does' if len(later) == 1 else 'their partitions do'} not exist yet)"
            )
    months = [str(Month.parse(m)) for m in months]
    require_partition_months(config, months)
    drops = [drop_op(c) for c in config.connections]
    # `--force`: every connection's drop sends its month even if CloudZero already holds it.
    run_config = (
        {**QUIET, "ops": {op: {"config": {"force": True}} for op in drops}} if force else QUIET
    )
    job = dg.build_reconstructable_job(
        __name__, submit_month_job.__name__, (str(config_path()), uuid.uuid4().hex)
    )
    failed: dict[str, dict[str, str]] = {}  # month → connection → what CloudZero holds of it
    unreconciled = []
    with dg.DagsterInstance.get() as instance:
        connections = list(config.connections)
        prepare_pools(instance, connections)
        for number, month in enumerate(months, start=1):
            progress(f"[{number}/{len(months)}] {month}")
            say(f"== {month}: reading sources, converting to CBF, checking, sending ...")
            try:
                wait_for_slots(instance, connections, month)
                # execute_job, not execute_in_process: the latter keeps every step's output
                # (the month's raw and CBF frames) in memory until the run ends.
                with (
                    interrupts_stop_slot_waits(connections),
                    dg.execute_job(
                        job,
                        instance=instance,
                        raise_on_error=False,
                        run_config=run_config,
                        tags={**run_tags(), "dagster/partition": month},
                    ) as result,
                ):
                    pass
            except StoppedWaiting:
                return _stopped(instance, month, months[number:], connections)
            _say_materialised(result, month, connections)
            if not result.success:
                # Each connection's own state: one connection's drop may have sent its month
                # while another's source failed before its drop ran (nothing sent for it).
                states = deliveries(result, connections)
                failed[month] = states
                for message in failure_messages(result):
                    say(f"   FAILED {message}")
                for check in result.get_asset_check_evaluations():
                    if not check.passed:
                        say(
                            f"   CHECK FAILED {check.asset_key.to_user_string()} {check.check_name}"
                            + (f": {check.description}" if check.description else "")
                        )
                for connection, state in states.items():
                    if state not in (SENT, UNCHANGED):  # those said so with their drop above
                        say(f"   {_where(month, connection, connections)}: {state}")
                continue
            left_alone = {
                c for c, state in deliveries(result, connections).items() if state in LEFT_ALONE
            }
            for check in result.get_asset_check_evaluations():
                if check.passed:
                    continue
                label = f"{check.asset_key.to_user_string()} {check.check_name}"
                if check.severity == dg.AssetCheckSeverity.WARN:
                    say(f"   WARNING {label}: {check.description or 'see the check in the UI'}")
                    continue
                if check.asset_key.path[-1] in left_alone:
                    # Nothing was sent: the month was kept as CloudZero holds it, which is not
                    # what was last sent (someone else wrote to it). Said, not a failed send.
                    say(
                        f"   WARNING {label}: {check.description or ''} The month was left as it "
                        "is in this run (nothing sent); `anycost reconcile MONTH --connection CONNECTION "
                        "--contents` shows what it holds."
                    )
                    continue
                unreconciled.append(month)
                say(f"   CHECK FAILED {label}: {check.description or ''}")
    storage = config.storage_path
    say()
    say(f"Frames (Parquet):     {config.frames_location}")
    if config.cloudzero.target == "sandbox":
        say(f"Sandbox (SQLite):     {storage / 'sandbox' / 'cloudzero_sandbox.sqlite3'}")
        for connection in config.connections:
            say(
                f"  see a month:        anycost show {connection} {months[-1] if months else 'YYYY-MM'}"
            )
    say(
        f"Run history:          DAGSTER_HOME={home} dg dev   (from the project folder, then open http://127.0.0.1:3000)"
    )
    if unreconciled:
        print(
            f"\n{counted(len(unreconciled), 'month')} {'was' if len(unreconciled) == 1 else 'were'} sent but CloudZero does not hold what was sent: "
            f"{', '.join(unreconciled)}. See the check's message above.",
            file=sys.stderr,
        )
    if failed:
        print(f"\n{counted(len(failed), 'month')} failed:", file=sys.stderr)
        for month, states in failed.items():
            for connection, state in states.items():
                print(
                    f"  {_where(month, connection, connections)}: {state}. "
                    f"{AFTER_FAILURE.get(state, UNKNOWN)}",
                    file=sys.stderr,
                )
        return 1
    return 1 if unreconciled else 0
