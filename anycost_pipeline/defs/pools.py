"""One request at a time per CloudZero connection: a Dagster pool per connection, and the run
tags that let a later run free the slot of a run whose process was killed."""

import os
import socket

import dagster as dg

from anycost_pipeline.cloudzero.locks import process_alive
from anycost_pipeline.defs.names import HOST_TAG, PID_TAG


def pool_name(connection: str) -> str:
    """The Dagster pool that keeps one request at a time on a connection."""
    return f"cloudzero_{connection}"


def prepare_pools(instance: dg.DagsterInstance, connections: list[str]) -> None:
    """Give each connection's pool its limit of one, unless it already has a limit.

    Setting it up front avoids Dagster's lazy set-up, which can let the first runs that start
    at the same moment each take a slot (and fails outright on PostgreSQL).
    """
    storage = instance.event_log_storage
    known = storage.get_concurrency_keys()
    for connection in connections:
        if pool_name(connection) not in known:
            storage.set_concurrency_slots(pool_name(connection), 1)


def run_tags() -> dict[str, str]:
    """Tags naming the process of an in-process run, so a later run can tell if it was killed."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _abandoned(run: dg.DagsterRun) -> bool:
    """True for an in-process run of this host whose process is gone."""
    pid = run.tags.get(PID_TAG, "")
    return (
        run.tags.get(HOST_TAG) == socket.gethostname()
        and pid.isdigit()
        and not process_alive(int(pid))
    )


def release_abandoned_slots(instance: dg.DagsterInstance, connections: list[str]) -> list[str]:
    """Free the pool slots of in-process runs whose process is gone (killed mid-month).

    Without a daemon nothing else notices such a run, and its slot would keep every later
    submission to the connection waiting forever. Returns the ids of the runs released.
    """
    storage, released = instance.event_log_storage, []
    for connection in connections:
        for slot in storage.get_concurrency_info(pool_name(connection)).claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            if run is None or not _abandoned(run):
                continue
            storage.free_concurrency_slots_for_run(run.run_id)
            if not run.is_finished:
                instance.report_run_failed(
                    run, "The process running it ended before it finished (it was killed)."
                )
            released.append(run.run_id)
    return released


def busy_pools(
    instance: dg.DagsterInstance, connections: list[str], own_pid: int | None = None
) -> dict[str, list[str]]:
    """Connection → a description of each run holding its slot, for the connections whose
    every slot is held by another run (one that is not this process's own, `own_pid`)."""
    storage, busy = instance.event_log_storage, {}
    for connection in connections:
        info = storage.get_concurrency_info(pool_name(connection))
        holders = [slot.run_id for slot in info.claimed_slots]
        if not holders or len(holders) < info.slot_count:
            continue
        runs = {run_id: instance.get_run_by_id(run_id) for run_id in holders}
        if own_pid is not None and any(
            run is not None and run.tags.get(PID_TAG) == str(own_pid) for run in runs.values()
        ):
            continue
        busy[connection] = [_holder(run_id, run) for run_id, run in runs.items()]
    return busy


def _holder(run_id: str, run: dg.DagsterRun | None) -> str:
    if run is None:
        return f"run {run_id} (not in this instance's run history)"
    where = (
        f", process {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG, '?')}"
        if PID_TAG in run.tags
        else ""
    )
    return f"run {run_id} ({run.status.value.lower()}{where})"


def waiting_runs_of_process(
    instance: dg.DagsterInstance, connections: list[str], pid: int
) -> list[str]:
    """The runs of process `pid` (on this host) that wait for a connection's slot."""
    waiting = []
    for connection in connections:
        info = instance.event_log_storage.get_concurrency_info(pool_name(connection))
        for step in info.pending_steps:
            if step.assigned_timestamp is not None:
                continue
            run = instance.get_run_by_id(step.run_id)
            if (
                run is not None
                and run.tags.get(PID_TAG) == str(pid)
                and run.tags.get(HOST_TAG) == socket.gethostname()
            ):
                waiting.append(run.run_id)
    return waiting
