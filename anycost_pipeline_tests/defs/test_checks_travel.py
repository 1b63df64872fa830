"""A month whose blocking checks failed is never sent, whatever starts the drop.

The reproduction: `anycost run 2024-08` fails `rows_valid` (a resource id CloudZero would cut to
nothing), which stores the frame before the check reports; then the drop is materialised on its
own, as the UI's *Materialize* on drop/<connection> or `dagster asset materialize` does. Before,
that loaded the stored frame and sent it.
"""

import os
import subprocess
import sys
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

DAGSTER = str(Path(sys.executable).parent / "dagster")
ANYCOST = str(Path(sys.executable).parent / "anycost")


def _break_resource_ids(project: Project) -> None:
    for path in project.data_dir.glob("*2024-08-0*.csv"):
        lines = path.read_text().splitlines()
        # `arn:` alone: CloudZero cuts ids at their first ':' and would be left with nothing.
        path.write_text(
            "\n".join([lines[0] + ",rid", *(f"{line},arn:" for line in lines[1:])]) + "\n"
        )
    for path in project.data_dir.glob("*.csv"):
        if "2024-08-0" not in path.name:
            lines = path.read_text().splitlines()
            path.write_text(
                "\n".join([lines[0] + ",rid", *(f"{line},vm-1" for line in lines[1:])]) + "\n"
            )
    config = project.config()
    source = config["sources"]["simple_cloud"]
    source["columns"]["resource/id"] = "rid"
    source["resource_id_encoding"] = "none"
    project.write_config(config)


def test_a_drop_materialised_alone_refuses_a_frame_whose_checks_failed(project: Project) -> None:
    _break_resource_ids(project)
    env = {**os.environ, "DAGSTER_HOME": str(project.root / "dagster_home")}
    run = subprocess.run(
        [ANYCOST, "run", "2024-08"], cwd=project.root, env=env, capture_output=True, text=True
    )
    assert run.returncode == 1
    assert "rows_valid" in run.stdout and "2024-08: nothing sent" in run.stdout
    held = SandboxStore(project.storage / "sandbox")
    assert held.month_rows("simple_cloud_main", "2024-08") == []

    alone = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "anycost_pipeline.definitions",
         "--select", "drop/simple_cloud_main", "--partition", "2024-08"],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert alone.returncode != 0
    assert "cbf/simple_cloud failed its blocking check rows_valid" in alone.stdout + alone.stderr
    assert held.month_rows("simple_cloud_main", "2024-08") == []  # nothing was sent


def test_a_month_that_passed_its_checks_is_sent_by_the_drop_alone(project: Project) -> None:
    assert project.materialize_month("2024-07").success
    env = {**os.environ, "DAGSTER_HOME": str(project.root / "dagster_home")}
    subprocess.run([ANYCOST, "run", "2024-08"], cwd=project.root, env=env, check=True,
                   capture_output=True)  # fmt: skip
    alone = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "anycost_pipeline.definitions",
         "--select", "drop/simple_cloud_main", "--partition", "2024-08"],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stdout + alone.stderr
    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(held) == 250
