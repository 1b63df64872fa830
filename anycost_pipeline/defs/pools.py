"""One request at a time per CloudZero connection: a Dagster pool per connection, and the run
tags that let a later run free the slot of a run whose process was killed."""

import json
import os
import socket
import uuid

import dagster as dg

from anycost_pipeline.cloudzero.locks import process_alive
from anycost_pipeline.defs.names import HOST_TAG, PID_TAG, PROCESS_TAG


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


PROCESS_ID = uuid.uuid4().hex  # this process, whatever its pid


def run_tags() -> dict[str, str]:
    """Tags naming the process of an in-process run, so a later run can tell if it was killed."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), PROCESS_TAG: PROCESS_ID}


def _abandoned(run: dg.DagsterRun) -> bool:
    """True for an in-process run of this host whose process is gone."""
    pid = run.tags.get(PID_TAG, "")
    return (
        run.tags.get(HOST_TAG) == socket.gethostname()
        and pid.isdigit()
        and not process_alive(int(pid))
    )


def release_abandoned_slots(instance: dg.DagsterInstance, connections: list[str]) -> list[str]:
    """Free the pool slots of in-process runs whose process is gone (killed mid-month), and of
    runs that a code server on this machine launched whose worker and code server are gone.

    Without a daemon nothing else notices such a run, and its slot would keep every later
    submission to the connection waiting forever. Returns the ids of the runs released.
    """
    storage, released = instance.event_log_storage, []
    for connection in connections:
        for slot in storage.get_concurrency_info(pool_name(connection)).claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            if run is None or not (_abandoned(run) or worker_gone(instance, run)):
                continue
            storage.free_concurrency_slots_for_run(run.run_id)
            if not run.is_finished:
                instance.report_run_failed(
                    run, "The process running it ended before it finished (it was killed)."
                )
            released.append(run.run_id)
    return released


def busy_pools(instance: dg.DagsterInstance, connections: list[str]) -> dict[str, list[str]]:
    """Connection → a description of each run holding its slot, for the connections whose
    every slot is held by runs of other processes."""
    storage, busy = instance.event_log_storage, {}
    for connection in connections:
        info = storage.get_concurrency_info(pool_name(connection))
        holders = [slot.run_id for slot in info.claimed_slots]
        if not holders or len(holders) < info.slot_count:
            continue
        runs = {run_id: instance.get_run_by_id(run_id) for run_id in holders}
        if any(
            run is not None and run.tags.get(PROCESS_TAG) == PROCESS_ID for run in runs.values()
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


def waiting_runs_of_process(instance: dg.DagsterInstance, connections: list[str]) -> list[str]:
    """The runs of this process that wait for a connection's slot."""
    waiting = []
    for connection in connections:
        info = instance.event_log_storage.get_concurrency_info(pool_name(connection))
        for step in info.pending_steps:
            if step.assigned_timestamp is not None:
                continue
            run = instance.get_run_by_id(step.run_id)
            if run is not None and run.tags.get(PROCESS_TAG) == PROCESS_ID:
                waiting.append(run.run_id)
    return waiting


def worker_gone(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """True for a started run that a code server of this machine launched (Dagster's
    DefaultRunLauncher: `dg dev`, or a daemon with a local code server) whose run worker
    process is gone and that the code server no longer runs.

    When only the worker dies, the code server marks the run failed itself and the daemon
    frees its slot. When the code server went with it (a machine or container restarted, the
    whole process group killed), nothing in Dagster ever ends the run: this launcher cannot
    report on its workers, so run monitoring leaves it started and its slot held for ever.
    """
    # Only DefaultRunLauncher tags a run with the code server it started it on; runs of other
    # launchers (a pod each) are left to their own run monitoring.
    from dagster._core.storage.tags import GRPC_INFO_TAG

    info = run.tags.get(GRPC_INFO_TAG)
    if run.status != dg.DagsterRunStatus.STARTED or not info:
        return False
    # A process id is only worth checking on the machine it belongs to: the job's host tag
    # names the code server's machine (a loopback address alone could be any machine's).
    server = json.loads(info)
    local = {"localhost", "127.0.0.1", "::1", socket.gethostname()}
    if run.tags.get(HOST_TAG) != socket.gethostname() or (
        not server.get("socket") and server.get("host") not in local
    ):
        return False
    pid = worker_pid(instance, run.run_id)
    return pid is not None and not process_alive(pid) and not _code_server_runs(server, run)


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process id of a run's worker, as the worker recorded it when it started."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value))
    return None


def _code_server_runs(server: dict, run: dg.DagsterRun) -> bool:
    """Whether the code server that launched the run answers that it still runs it (a worker
    in another process namespace would look gone from here)."""
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
    from dagster._serdes import deserialize_value

    client = DagsterGrpcClient(
        port=server.get("port"), socket=server.get("socket"), host=server.get("host", "localhost")
    )
    try:
        answer = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id), 10)
    except DagsterUserCodeUnreachableError:  # no code server there any more
        return False
    return deserialize_value(answer, CanCancelExecutionResult).can_cancel
