"""The UI path as a user drives it: `dg dev`, then the webserver's GraphQL API (what the UI calls).

Lists the assets and their monthly partitions, launches a backfill of two months, waits for the
daemon to run it, and finds both months in the sandbox.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import PACKAGE_DIR, REPO, Project

DG = str(Path(sys.executable).parent / "dg")
# Safety nets only (a passing run never waits them out): on two cores under a load of 10 (other
# test runs beside this one), `dg dev` took 32 s to answer (of 60 allowed) and the backfill 59 s.
STARTUP_SECONDS = 240
BACKFILL_SECONDS = 480
MONTHS = ["2024-07", "2024-08"]
ASSETS = [["raw", "simple_cloud"], ["cbf", "simple_cloud"], ["drop", "simple_cloud_main"]]

ASSET_NODES = """
query { assetNodes { assetKey { path } isPartitioned partitionKeys } }
"""
LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on Error { message }
  }
}
"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webserver:
    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def dagster_dev(project: Project, tmp_path: Path) -> Iterator[Webserver]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    log = tmp_path / "dagster_dev.log"
    env = {**os.environ, "DAGSTER_HOME": str(home)}  # ANYCOST_CONFIG comes from the project fixture
    # dg dev runs from the project folder: its pyproject.toml and the package in it.
    shutil.copy(REPO / "pyproject.toml", project.root / "pyproject.toml")
    (project.root / "anycost_pipeline").symlink_to(PACKAGE_DIR)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                DG,
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=project.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Webserver(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, f"dg dev exited:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(f"{server.url}/server_info", timeout=10).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # still starting
                pass
            assert time.monotonic() < deadline, f"dg dev did not answer:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield server
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group (webserver, daemon, code server, runs), then SIGKILL what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # is any member of the group still there?
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_backfill_two_months_through_the_webserver(
    dagster_dev: Webserver, project: Project
) -> None:
    nodes = {
        tuple(n["assetKey"]["path"]): n for n in dagster_dev.graphql(ASSET_NODES)["assetNodes"]
    }
    assert set(nodes) == {tuple(a) for a in ASSETS}
    for node in nodes.values():
        assert node["isPartitioned"] and node["partitionKeys"][0] == "2024-01"
        assert set(MONTHS) <= set(node["partitionKeys"])

    params = {
        "assetSelection": [{"path": a} for a in ASSETS],
        "partitionNames": MONTHS,
        "title": "two months",
        # As chosen in the launchpad: each run's steps in one process, not one process per step.
        "runConfigData": {"execution": {"config": {"in_process": {}}}},
    }
    launched = dagster_dev.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    deadline = time.monotonic() + BACKFILL_SECONDS
    while True:
        backfill = dagster_dev.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})[
            "partitionBackfillOrError"
        ]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in FINISHED:
            break
        assert time.monotonic() < deadline, (
            f"backfill still {backfill['status']}:\n{dagster_dev.log.read_text()[-3000:]}"
        )
        time.sleep(1)
    assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, dagster_dev.log.read_text()[
        -3000:
    ]

    store = SandboxStore(project.storage / "sandbox")
    for month in MONTHS:
        rows = store.month_rows("simple_cloud_main", month)
        source = sum(
            (
                Decimal(line.rsplit(",", 1)[1])
                for f in project.data_dir.glob(f"*_{month}-*.csv")
                for line in f.read_text().splitlines()[1:]
            ),
            Decimal(0),
        )
        assert rows and sum(Decimal(r["cost/cost"]) for r in rows) == source
    assert "Warning" not in dagster_dev.log.read_text(), dagster_dev.log.read_text()[-3000:]
