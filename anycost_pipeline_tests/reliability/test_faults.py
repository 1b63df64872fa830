"""Faults in the middle of a month: the sending process is killed, or the server restarts.

Either way the next run (or the retries of the same run) ends with exactly the right month in
CloudZero (here the project's sandbox server on 127.0.0.1): every source row once, no row twice.
"""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import SandboxStore, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline.cloudzero.sandbox.store import DATABASE_NAME
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.servers import free_port

KEY = "czk-faults-test"
CONNECTION_ID = "conn-faults"
MONTH = "2024-08"


def _live(project: Project) -> None:
    config = project.config()
    # Small bodies: the sample month goes out in about a dozen requests.
    config["cloudzero"] = {"target": "live", "limits": {"body_bytes": 3000}}
    project.write_config(config)


def _env(project: Project, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANYCOST_CONFIG": str(project.config_file),
        "DAGSTER_HOME": str(project.root / "dagster_home"),
        "CLOUDZERO_API_URL": url,
        "CLOUDZERO_API_KEY": KEY,
        "SIMPLE_CLOUD_CONNECTION_ID": CONNECTION_ID,
    }


def _start_run(project: Project, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "anycost_pipeline.cli", "run", MONTH],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _expected(project: Project) -> Counter:
    rows = [
        r
        for f in sorted(project.data_dir.glob(f"*{MONTH}-*.csv"))
        for r in csv.DictReader(f.open())
    ]
    return Counter(
        (f"{r['date']}T00:00:00Z", r["service"], r["account"], Decimal(r["amount"])) for r in rows
    )


def _held(folder: Path) -> Counter:
    rows = SandboxStore(folder).month_rows(CONNECTION_ID, MONTH)
    return Counter(
        (
            r["time/usage_start"],
            r["resource/service"],
            r["resource/account"],
            Decimal(r["cost/cost"]),
        )
        for r in rows
    )


def _accepted_bodies(folder: Path) -> int:
    with sqlite3.connect(folder / DATABASE_NAME) as db:
        try:
            return db.execute(
                "SELECT COUNT(*) FROM drops WHERE connection_id=? AND month=?",
                (CONNECTION_ID, MONTH),
            ).fetchone()[0]
        except sqlite3.OperationalError:  # the server has not created its tables yet
            return 0


def _wait_until(condition: Callable[[], bool], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_run_killed_mid_month_is_made_whole_by_the_next(project: Project, tmp_path: Path) -> None:
    _live(project)
    folder = tmp_path / "cloudzero"
    with start_sandbox(folder, api_key=KEY, faults=Faults(delay=0.25)) as server:
        env = _env(project, server.url)
        run = _start_run(project, env)
        _wait_until(lambda: _accepted_bodies(folder) >= 3)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        partial = _held(folder)
        assert 0 < sum(partial.values()) < sum(_expected(project).values()), (
            "the kill did not land mid-month"
        )

        again = _start_run(project, env)
        output = again.communicate(timeout=300)[0]
        assert again.returncode == 0, output
        # The killed run still held the connection's pool slot; the next run frees it, or it
        # would wait for it forever.
        assert "released the connection slot" in output, output
    assert _held(folder) == _expected(project)


def test_the_server_restarting_between_bodies_is_retried_to_the_right_month(
    project: Project, tmp_path: Path
) -> None:
    _live(project)
    folder, port = tmp_path / "cloudzero", free_port()
    serve = [
        sys.executable,
        "-m",
        "anycost_pipeline.cloudzero.sandbox",
        "--port",
        str(port),
        "--storage",
        str(folder),
        "--api-key",
        KEY,
        "--delay",
        "0.25",
    ]

    def start_server() -> subprocess.Popen:
        server = subprocess.Popen(
            serve,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert server.stdout is not None and "listening" in server.stdout.readline()
        return server

    server = start_server()
    run = _start_run(project, _env(project, f"http://127.0.0.1:{port}"))
    try:
        _wait_until(lambda: _accepted_bodies(folder) >= 2)
        os.killpg(server.pid, signal.SIGKILL)  # down between two bodies, mid-month
        server.wait(timeout=30)
        assert sum(_held(folder).values()) < sum(_expected(project).values()), (
            "the restart did not land mid-month"
        )
        time.sleep(1.0)
        server = start_server()
        output = run.communicate(timeout=300)[0]
        assert run.returncode == 0, output
    finally:
        for process in (run, server):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert _held(folder) == _expected(project)
