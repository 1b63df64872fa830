"""Which killed runs a later `anycost run` may release: only those whose worker is provably gone.

The whole path (a code server and its run worker killed mid-send, then `anycost run`) is
anycost_pipeline_tests/deploy/test_killed_run_slot.py; these are the cases it must leave alone.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.storage.tags import GRPC_INFO_TAG

from anycost_pipeline.defs.names import HOST_TAG
from anycost_pipeline.defs.pools import worker_gone
from anycost_pipeline_tests.servers import free_port


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _run(
    instance: dg.DagsterInstance,
    pid: int,
    host: str | None = "127.0.0.1",
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED,
    machine: str = socket.gethostname(),
) -> dg.DagsterRun:
    """A run as a code server launches it: tagged with the server and the machine its job was
    built on, its worker's pid recorded."""
    tags = {GRPC_INFO_TAG: json.dumps({"host": host, "port": free_port()})} if host else {}
    tags[HOST_TAG] = machine
    run = instance.add_run(dg.DagsterRun(job_name="submit_month", status=status, tags=tags))
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    return run


def test_a_started_run_whose_worker_and_code_server_are_gone_is_released(
    tmp_path: Path,
) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert worker_gone(instance, _run(instance, _dead_pid()))


def test_runs_that_may_still_run_are_left_alone(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        dead = _dead_pid()
        # Its worker runs (this process stands in for it).
        assert not worker_gone(instance, _run(instance, pid=os.getpid()))
        # A code server on another machine: a process id there means nothing here.
        assert not worker_gone(instance, _run(instance, dead, host="code-server.internal"))
        # A code server on another machine that also calls itself 127.0.0.1 (an instance in
        # PostgreSQL shared with the machine where `anycost run` runs).
        assert not worker_gone(instance, _run(instance, dead, machine="production-1"))
        # Another launcher (a pod per run): its own run monitoring ends it.
        assert not worker_gone(instance, _run(instance, dead, host=None))
        # Already ended: Dagster frees its slot.
        assert not worker_gone(instance, _run(instance, dead, status=dg.DagsterRunStatus.FAILURE))
