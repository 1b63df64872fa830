"""`anycost run` whose connection's slot another run holds: it says what it waits for, and
Ctrl-C or SIGTERM stop it with nothing sent (it used to wait silently, ignoring SIGTERM)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.defs.pools import pool_name
from anycost_pipeline_tests.cli.live import (
    ANYCOST,
    KEY,
    environment,
    http_source_project,
    one_csv_project,
)
from anycost_pipeline_tests.conftest import Project, instance_at
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api

HOLDER = "holder-run-on-another-pod"


def hold_slot(home: Path, connection: str) -> None:
    """Another run (of another machine, still running) takes the connection's slot."""
    with instance_at(home) as instance:
        instance.add_run(
            DagsterRun(job_name="submit_month", run_id=HOLDER, status=DagsterRunStatus.STARTED)
        )
        storage = instance.event_log_storage
        storage.set_concurrency_slots(pool_name(connection), 1)
        assert storage.claim_concurrency_slot(pool_name(connection), HOLDER, "drop_main").is_claimed


def slot_state(home: Path, connection: str) -> tuple[list[str], list[str]]:
    with instance_at(home) as instance:
        info = instance.event_log_storage.get_concurrency_info(pool_name(connection))
        return [s.run_id for s in info.claimed_slots], [p.run_id for p in info.pending_steps]


def start(config: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ANYCOST, "run", "2024-08"],
        cwd=config.parent,
        env={**environment(config, url), "NO_PROXY": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str], seen: str, home: Path | None = None) -> str:
    """SIGTERM once `seen` is printed (and, given `home`, once a run other than the holder
    waits for the slot); the process must end within a minute."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while seen not in "".join(lines) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert seen in "".join(lines), "".join(lines)
    while home is not None and not set(slot_state(home, "main")[1]) - {HOLDER}:
        assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    time.sleep(3)  # well inside the wait
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("anycost run ignored SIGTERM: " + "".join(lines)) from None
    reader.join(timeout=10)
    return " ".join("".join(lines).split())


def test_a_run_whose_slot_is_held_says_so_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = one_csv_project(
        tmp_path / "p",
        "time,service,amount,account\n2024-08-05,Compute,50.00,a\n",
        connection_id="conn-wait",
        cloudzero={"target": "live"},
    )
    home = config.parent / "dagster_home"
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        # The instance settings `anycost` writes, then another run takes the slot.
        first = subprocess.run(
            [ANYCOST, "run", "2024-08"],
            cwd=config.parent,
            env=environment(config, server.url),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert first.returncode == 0, first.stdout + first.stderr
        hold_slot(home, "main")
        said = stop(start(config, server.url), "waiting for connection main's slot")
        assert f"held by run {HOLDER} (started)" in said, said
        assert "stopped while 2024-08 waited for a connection's slot" in said, said
        assert "2024-08: nothing sent." in said, said
        assert slot_state(home, "main") == ([HOLDER], [HOLDER])  # only the holder's claim is left


def test_a_slot_taken_while_the_month_is_read_is_waited_for_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    """The slot is free when the run starts, taken by another run while the source is read:
    the wait is inside Dagster's executor, which alone ignored SIGTERM."""
    release, asked = threading.Event(), threading.Event()

    def respond(request: Request) -> Answer:
        asked.set()
        assert release.wait(120)
        return Answer(body={"data": [{"date": "2024-08-05", "service": "Support", "cost": "5.00"}]})

    with fake_api(respond) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = http_source_project(tmp_path / "p", api.url, connection_id="conn-wait")
        process = start(config, server.url)
        try:
            assert asked.wait(120), "the run never read its source"
            hold_slot(config.parent / "dagster_home", "main")
        finally:
            release.set()
        said = stop(process, "reading sources", config.parent / "dagster_home")
        assert process.returncode == 130, said
        assert "stopped while 2024-08 waited for a connection's slot" in said, said
        assert "2024-08: nothing sent." in said, said
        assert server.store.month_rows("conn-wait", "2024-08") == []
        assert slot_state(config.parent / "dagster_home", "main") == ([HOLDER], [HOLDER])


BACKGROUND_RUN = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a script's `anycost run &` starts
from anycost_pipeline.cli import main
code = main(["run", "2024-08"])
sys.exit(3 if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN else code)
"""


def test_sigterm_still_stops_a_run_started_in_the_background_after_a_month_ran(
    project: Project,
) -> None:
    """A script's `anycost run &` has SIGINT ignored; once Dagster ran a month, SIGTERM did
    what SIGINT does: nothing, so the next slot wait could not be stopped."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    done = subprocess.run(
        [sys.executable, "-c", BACKGROUND_RUN], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
