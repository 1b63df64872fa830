"""Two connections that resolve to one CloudZero connection id are refused by name, by
`anycost validate`, by the definitions (the UI and every run) and by `anycost run`: each
`replace_drop` of one would erase the other's month."""

import os
import subprocess
import sys
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

ANYCOST = str(Path(sys.executable).parent / "anycost")


def _two_names_one_id(project: Project) -> dict[str, str]:
    config = project.config()
    config["connections"]["simple_cloud_main"]["connection_id"] = "env:CZ_CONN"
    config["connections"]["second"] = {"connection_id": "env:CZ_CONN"}
    second = dict(config["sources"]["simple_cloud"], connection="second")
    config["sources"]["second_source"] = second
    project.write_config(config)
    return {**os.environ, "CZ_CONN": "conn-shared", "DAGSTER_HOME": str(project.root / "home")}


def test_validate_and_run_refuse_two_connections_with_one_id(project: Project) -> None:
    env = _two_names_one_id(project)
    validate = subprocess.run([ANYCOST, "validate"], cwd=project.root, env=env,
                              capture_output=True, text=True)  # fmt: skip
    assert validate.returncode == 1
    assert "simple_cloud_main and second both send to 'conn-shared'" in validate.stdout
    assert "No problems found" not in validate.stdout
    run = subprocess.run([ANYCOST, "run", "2024-08"], cwd=project.root, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode != 0
    assert "simple_cloud_main and second both send to 'conn-shared'" in run.stdout + run.stderr
    assert SandboxStore(project.storage / "sandbox").month_rows("conn-shared", "2024-08") == []
