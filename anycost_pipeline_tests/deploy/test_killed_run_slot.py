"""A run killed inside its drop step gives its connection's pool slot back, through real
processes: a code server launching runs (Dagster's DefaultRunLauncher), the daemon with the
instance files' run monitoring, and the sandbox holding the drop's request open while the run
worker is killed with SIGKILL. The next send of the month then goes through.

On SQLite (the instance file `anycost` writes) and on PostgreSQL (deploy/dagster.postgres.yaml).
Only the instance files' timings are shortened here; test_instance_files.py checks the shipped
values.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._grpc.client import DagsterGrpcClient

from anycost_pipeline.cloudzero.sandbox import SandboxServer, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline.cloudzero.submit import SENT
from anycost_pipeline.defs.names import STATUS, SUBMIT_MONTH, drop_key, drop_op
from anycost_pipeline.defs.pools import pool_name, prepare_pools, worker_pid
from anycost_pipeline_tests.conftest import REPO, instance_at
from anycost_pipeline_tests.servers import free_port, postgres_server, production_home

MONTH = "2024-08"
CONNECTION, CONNECTION_ID = "vendor_main", "conn-killed"
API_KEY = "cz-test-key-KILLED-RUN-SLOT-41c2"
# The shipped files free a killed run's slot 60 s after it ended, checked every 30 s; the test
# keeps the same settings with shorter times.
TEST_TIMINGS = {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 2}
BIN = Path(sys.executable).parent
ENDED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
FINISHED = {dg.DagsterRunStatus.SUCCESS, *ENDED}


def _write_month(root: Path, extra: Decimal) -> Decimal:
    """The vendor's export of the month (every day's amount raised by `extra`); its total."""
    lines, total = ["day,service,amount"], Decimal(0)
    for day in range(1, 32):
        amount = Decimal(f"3.{day:02d}") + extra
        lines.append(f"{MONTH}-{day:02d},Compute,{amount}")
        total += amount
    (root / "exports" / f"{MONTH}.csv").write_text("\n".join(lines) + "\n")
    return total


def _write_project(root: Path) -> Decimal:
    (root / "exports").mkdir(parents=True)
    config = {
        "storage": ".anycost",
        "start_month": MONTH,
        "cloudzero": {"target": "live"},
        "connections": {CONNECTION: {"connection_id": CONNECTION_ID}},
        "sources": {
            "vendor": {
                "connection": CONNECTION,
                "path": "exports/*.csv",
                "columns": {
                    "time/usage_start": "day",
                    "cost/cost": "amount",
                    "resource/service": "service",
                },
            }
        },
    }
    (root / "anycost.yaml").write_text(yaml.safe_dump(config))
    return _write_month(root, Decimal(0))


def _shorten(home: Path) -> None:
    """The instance file in `home` with the test's timings; every other setting as shipped."""
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    shipped = settings["run_monitoring"]
    assert shipped["enabled"] is True and set(TEST_TIMINGS) <= set(shipped), shipped
    settings["run_monitoring"] = {**shipped, **TEST_TIMINGS}
    # The queued coordinator is the default one too; only how often it looks is shortened.
    coordinator = settings.setdefault(
        "run_coordinator",
        {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
    )
    coordinator.setdefault("config", {})["dequeue_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))


@contextmanager
def _process(command: list[str], root: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """A long-running Dagster process (and its children), stopped at the end; its pid."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(what: str, seconds: float, probe):  # type: ignore[no-untyped-def]
    """Poll `probe` until it returns something truthy; the deadline is only a safety net."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")


def _started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}


def _write_in_flight(sandbox_db: Path) -> str | None:
    """The sandbox's claim on the connection while it holds the drop's write (only the delayed
    write holds it for half a second; a read is answered at once)."""
    with sqlite3.connect(sandbox_db) as db:
        found = db.execute(
            "SELECT token FROM in_flight WHERE connection_id=? AND since < ?",
            (CONNECTION_ID, time.time() - 0.5),
        ).fetchone()
    return found[0] if found else None


def _held_total(sandbox_db: Path) -> Decimal:
    with sqlite3.connect(sandbox_db) as db:
        costs = db.execute(
            "SELECT json_extract(row, '$.\"cost/cost\"') FROM cbf_rows"
            " WHERE connection_id=? AND month=?",
            (CONNECTION_ID, MONTH),
        )
        return sum((Decimal(c) for (c,) in costs), Decimal(0))


@dataclass
class Deployment:
    """The project served the production way: a code server (the image's command) launching
    each run in a run worker of its own, the daemon dequeuing and monitoring runs, CloudZero's
    sandbox answering writes after `delay` seconds."""

    root: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    cloudzero: SandboxServer
    code_server_pid: int
    logs: list[Path]

    @property
    def sandbox_db(self) -> Path:
        return self.cloudzero.store.path

    def launch(self) -> dg.DagsterRun:
        """`dagster job launch` of the month, through the code server the workspace names."""
        before = len(self.instance.get_runs())
        launched = subprocess.run(
            [
                str(BIN / "dagster"),
                *("job", "launch", "-j", SUBMIT_MONTH, "-w", "workspace.yaml"),
                *("--tags", json.dumps({"dagster/partition": MONTH})),
            ],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-3000:]
        _wait("the run", 60, lambda: len(self.instance.get_runs()) > before)
        return self.instance.get_runs(limit=1)[0]

    def claimed(self) -> list[str]:
        info = self.instance.event_log_storage.get_concurrency_info(pool_name(CONNECTION))
        return [slot.run_id for slot in info.claimed_slots]

    def inside_drop(self) -> tuple[dg.DagsterRun, int]:
        """Launch the month and wait until its drop's request is open in CloudZero: the run,
        and its run worker's process id."""
        run = self.launch()
        _wait(
            "the drop step's request to CloudZero",
            120,
            lambda: (
                drop_op(CONNECTION) in _started_steps(self.instance, run.run_id)
                and _write_in_flight(self.sandbox_db)
            ),
        )
        assert self.claimed() == [run.run_id]
        pid = worker_pid(self.instance, run.run_id)
        assert pid is not None, "the run worker recorded no process id"
        return run, pid

    def finished(self, run_id: str) -> dg.DagsterRun:
        def probe() -> dg.DagsterRun | None:
            run = self.instance.get_run_by_id(run_id)
            return run if run is not None and run.status in FINISHED else None

        return _wait(f"run {run_id} to finish", 180, probe)


@contextmanager
def _deployment(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    root, home = tmp_path / "project", tmp_path / "dagster_home"
    _write_project(root)
    with ExitStack() as stack:
        if backend == "postgres":
            pg_url = stack.enter_context(postgres_server())
            for name, value in production_home(home, pg_url, REPO).items():
                monkeypatch.setenv(name, value)
        else:
            from anycost_pipeline.cli.home import dagster_home

            monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after the test
            dagster_home(tmp_path)  # writes the file `anycost` writes, and sets DAGSTER_HOME
            assert Path(os.environ["DAGSTER_HOME"]) == home.resolve()
        _shorten(home)
        # The drop's request is answered after 3 s: the window in which its run is killed.
        cloudzero = stack.enter_context(
            start_sandbox(tmp_path / "cloudzero", api_key=API_KEY, faults=Faults(delay=3.0))
        )
        env = {
            **os.environ,
            "ANYCOST_CONFIG": str(root / "anycost.yaml"),
            "CLOUDZERO_API_URL": cloudzero.url,
            "CLOUDZERO_API_KEY": API_KEY,
        }
        instance = stack.enter_context(instance_at(home))
        # The README's deployment step (dagster instance concurrency set … 1), done directly.
        prepare_pools(instance, [CONNECTION])
        port = free_port()
        server = {"host": "127.0.0.1", "port": port, "location_name": "anycost"}
        (root / "workspace.yaml").write_text(
            yaml.safe_dump({"load_from": [{"grpc_server": server}]})
        )
        logs = [tmp_path / "code-server.log", tmp_path / "daemon.log"]
        code_server = [
            *("code-server", "start", "-h", "127.0.0.1", "-p", str(port)),
            *("-m", "anycost_pipeline.definitions"),
        ]
        code_server_pid = stack.enter_context(
            _process([str(BIN / "dagster"), *code_server], root, env, logs[0])
        )
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        _wait("the code server", 120, lambda: _answers(client))
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        stack.enter_context(_process(daemon, root, env, logs[1]))
        try:
            yield Deployment(root, env, instance, cloudzero, code_server_pid, logs)
        except BaseException:
            for log in logs:
                print(f"--- {log.name}\n{log.read_text()[-6000:]}")
            raise


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_run_killed_inside_its_drop_frees_the_slot_and_the_next_send_goes_through(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    began = time.monotonic()
    with _deployment(backend, tmp_path, monkeypatch) as deployment:
        killed, pid = deployment.inside_drop()
        os.kill(pid, signal.SIGKILL)
        at_kill = time.monotonic()
        _wait("the killed run's slot to be freed", 120, lambda: not deployment.claimed())
        freed_after = time.monotonic() - at_kill
        ended = deployment.instance.get_run_by_id(killed.run_id)
        assert ended is not None and ended.status in ENDED, ended

        # The next send of the month, with the export restated so that it must send.
        deployment.cloudzero.faults = Faults()
        total = _write_month(deployment.root, Decimal("0.5"))
        second = deployment.finished(deployment.launch().run_id)
        failures = _failures(deployment.instance, second.run_id)
        drop = deployment.instance.fetch_materializations(
            dg.AssetKey(drop_key(CONNECTION)), limit=5
        )
        held = _held_total(deployment.sandbox_db)
    print(
        f"\n{backend}: slot freed {freed_after:.1f} s after the run worker was killed; "
        f"test took {time.monotonic() - began:.1f} s"
    )
    assert second.status == dg.DagsterRunStatus.SUCCESS, failures
    assert [r.run_id for r in drop.records] == [second.run_id]
    assert drop.records[0].asset_materialization.metadata[STATUS].value == SENT
    assert held == total


def test_a_run_whose_code_server_died_with_it_is_released_by_the_next_anycost_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code server killed together with the run worker (a machine or container restarted,
    the process group killed): nothing in Dagster ends that run, so its slot stays held after
    any number of monitoring rounds. The next `anycost run` on this machine releases it."""
    began = time.monotonic()
    with _deployment("sqlite", tmp_path, monkeypatch) as deployment:
        killed, pid = deployment.inside_drop()
        os.killpg(deployment.code_server_pid, signal.SIGKILL)  # the server and its run worker
        _wait("the run worker to end", 30, lambda: not os.path.exists(f"/proc/{pid}"))
        # Several rounds of the daemon's run monitoring (every 1 s here) change nothing.
        time.sleep(3 * TEST_TIMINGS["free_slots_after_run_end_seconds"])
        still = deployment.instance.get_run_by_id(killed.run_id)
        assert still is not None and still.status == dg.DagsterRunStatus.STARTED
        assert deployment.claimed() == [killed.run_id]

        deployment.cloudzero.faults = Faults()
        total = _write_month(deployment.root, Decimal("0.5"))
        try:
            sent = subprocess.run(
                [str(BIN / "anycost"), "run", MONTH],
                cwd=deployment.root,
                env=deployment.env,
                capture_output=True,
                text=True,
                timeout=120,  # a safety net: without the release it waits for ever
            )
        except subprocess.TimeoutExpired as waited:
            raise AssertionError(
                f"anycost run still waited for the killed run's slot after 120 s: {waited.stdout!r}"
            ) from None
        ended = deployment.instance.get_run_by_id(killed.run_id)
        held = _held_total(deployment.sandbox_db)
    print(f"\nanycost run took the killed run's slot; test took {time.monotonic() - began:.1f} s")
    assert sent.returncode == 0, sent.stdout[-3000:] + sent.stderr[-3000:]
    assert f"released the connection slot of run {killed.run_id}" in sent.stdout
    assert ended is not None and ended.status == dg.DagsterRunStatus.FAILURE
    assert held == total


def _failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        e.message
        for e in instance.all_logs(run_id)
        if e.is_dagster_event and e.dagster_event.is_failure
    ]


def _answers(client: DagsterGrpcClient) -> bool:
    try:
        client.ping("")
    except Exception:
        return False
    return True
