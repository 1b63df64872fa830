"""The README's `dg` commands for this project, run as written in a folder laid out like a clone:
the quickstart's `dg dev` and the one-month `dg launch`."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.conftest import PACKAGE_DIR, REPO, SAMPLE_DATA
from anycost_pipeline_tests.servers import stop

README = (REPO / "README.md").read_text()
(DEV,) = [line for line in re.findall(r"```bash\n(.*?)```", README, re.S) if " dg dev" in line]
DEV = DEV.strip()
(LAUNCH,) = set(re.findall(r"`(dg launch --assets raw/simple_cloud[^`]*)`", README))
BIN = str(Path(sys.executable).parent)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The project folder as a clone has it (the package itself is the one under test)."""
    root = tmp_path / "anycost_pipeline_clone"
    root.mkdir()
    for name in ("pyproject.toml", "workspace.yaml", "anycost.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(SAMPLE_DATA, root / "sample_data" / "simple_cloud")
    (root / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    (root / "anycost_pipeline").symlink_to(PACKAGE_DIR)
    return root


def _shell(command: str, root: Path, **kwargs: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANYCOST_CONFIG", "DAGSTER_HOME")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return subprocess.Popen(["bash", "-c", command], cwd=root, env=env, text=True, **kwargs)  # type: ignore[call-overload]


def test_the_readmes_one_month_dg_launch_sends_the_month(clone: Path) -> None:
    process = _shell(LAUNCH, clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    assert "Warning" not in err, err[-3000:]
    with start_sandbox(clone / ".anycost" / "sandbox") as sandbox:
        answer = requests.get(
            f"{sandbox.url}/v2/connections/billing/anycost/simple_cloud_main/billing_drops/2024-08",
            headers={"Authorization": "sandbox-key"},
            timeout=30,
        )
    rows = answer.json()["billing_drop"]
    assert len(rows) == 250
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("1033.51")


def test_the_quickstarts_dg_dev_serves_the_project_without_a_warning(clone: Path) -> None:
    assert DEV == "DAGSTER_HOME=$PWD/dagster_home dg dev"
    with socket.socket() as s:  # the command as written listens on Dagster's default port
        assert s.connect_ex(("127.0.0.1", 3000)) != 0, "port 3000 is in use: stop what holds it"
    log = clone / "dg_dev.log"
    with log.open("w") as out:
        process = _shell(DEV, clone, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        nodes = None
        # A safety net only: on two cores under a load of 10, `dg dev` took 32 s to answer.
        deadline = time.monotonic() + 240
        while nodes is None and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                answer = requests.post(
                    "http://127.0.0.1:3000/graphql",
                    json={"query": "{ assetNodes { assetKey { path } groupName } }"},
                    timeout=10,
                )
                nodes = answer.json()["data"]["assetNodes"]
            except (requests.ConnectionError, requests.Timeout, ValueError, KeyError, TypeError):
                time.sleep(1)
        assert nodes is not None, log.read_text()[-3000:]
        assert sorted(("/".join(n["assetKey"]["path"]), n["groupName"]) for n in nodes) == [
            ("cbf/simple_cloud", "cbf"),
            ("drop/simple_cloud_main", "drop"),
            ("raw/simple_cloud", "raw"),
        ]
    finally:
        stop(process, group=True)
    assert "Warning" not in log.read_text(), log.read_text()[-3000:]
