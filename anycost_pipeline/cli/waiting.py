"""`anycost run` waiting for a connection's slot: it says which run holds the slot, and Ctrl-C
or SIGTERM stop the wait, with nothing sent for the month."""

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._utils.interrupts import check_captured_interrupt

from anycost_pipeline.cli.common import say, submission_state
from anycost_pipeline.cloudzero.submit import NOTHING_SENT
from anycost_pipeline.defs.names import DROP, PROCESS_TAG, STATUS
from anycost_pipeline.defs.pools import (
    PROCESS_ID,
    busy_pools,
    release_abandoned_slots,
    waiting_runs_of_process,
)

POLL_SECONDS = 2.0


class StoppedWaiting(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while the month waited for a connection's slot: nothing was sent."""


def wait_for_slots(instance: dg.DagsterInstance, connections: list[str], month: str) -> None:
    """Return once no connection's slot is held by another run, saying once per holder what
    the month waits for. Ctrl-C (or SIGTERM) raises StoppedWaiting."""
    said: set[str] = set()
    try:
        while True:
            for run_id in release_abandoned_slots(instance, connections):
                say(f"   (released the connection slot of run {run_id}, whose process was killed)")
            busy = busy_pools(instance, connections)
            if not busy:
                return
            for connection, holders in busy.items():
                line = (
                    f"   {month}: waiting for connection {connection}'s slot (one submission at a "
                    f"time per connection), held by {', '.join(holders)}. It is free when that "
                    "run ends; a killed run's slot is freed by the Dagster daemon's run monitoring "
                    "a minute after it ended, or here when it ran on this machine. Ctrl-C stops "
                    "waiting, with nothing sent."
                )
                if line not in said:
                    say(line)
                    said.add(line)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise StoppedWaiting(month) from None


@contextmanager
def interrupts_stop_slot_waits(connections: list[str]) -> Iterator[None]:
    """While a run of this process waits inside Dagster for a connection's slot, Ctrl-C and
    SIGTERM stop it (StoppedWaiting in the main thread).

    Dagster's in-process executor records an interrupt for its next checkpoint and keeps
    polling for the slot meanwhile, for as long as another run holds it; a step that waits for
    a slot has sent nothing, so stopping it there loses nothing. A step that runs is left to
    Dagster's own handling.
    """
    done, fired = threading.Event(), threading.Event()
    main = threading.main_thread().ident

    def watch() -> None:
        while not done.wait(0.5):
            if not check_captured_interrupt():
                continue
            # Opened only after an interrupt: an instance costs a tenth of a second per month.
            with dg.DagsterInstance.get() as instance:
                waiting = waiting_runs_of_process(instance, connections)
            if waiting:
                fired.set()
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(main), ctypes.py_object(StoppedWaiting)
                )
                return

    watcher = threading.Thread(target=watch, name="slot-wait-interrupts", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
    if fired.is_set():  # Dagster may have ended the run on the exception and returned
        raise StoppedWaiting()


def end_stopped_run(
    instance: dg.DagsterInstance, connections: list[str], month: str
) -> dict[str, str]:
    """After a stopped wait: this process's run of the month is marked canceled (if Dagster has
    not ended it) and its claims on connection slots are given back (a waiting claim would hold
    up later runs). Returns what each connection's drop did in it: its status when it ran
    (another connection's drop may have sent before the wait), what the journal says of the
    run's own submission when it did not finish, else `nothing sent`."""
    states = dict.fromkeys(connections, NOTHING_SENT)
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={PROCESS_TAG: PROCESS_ID, "dagster/partition": month})
    )
    for run in runs:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        if not run.is_finished:
            instance.report_run_canceled(
                run, "Stopped by Ctrl-C or SIGTERM while waiting for a slot."
            )
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            materialization = record.event_log_entry.asset_materialization
            key = materialization.asset_key.path if materialization else []
            status = materialization.metadata.get(STATUS) if materialization else None
            if key and key[0] == DROP and key[-1] in states and status is not None:
                states[key[-1]] = str(status.value)
        for connection, state in states.items():
            if state == NOTHING_SENT:
                states[connection] = submission_state(run.run_id, connection) or state
    return states
