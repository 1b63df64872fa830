"""The API key never lands anywhere a run writes: console, event log, frames, receipts."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.conftest import Project

KEY = "czk-RECOGNISABLE-7d1e9c-SECRET"


def _run(project: Project, env: dict, month: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "anycost_pipeline.cli", "run", month],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_api_key_is_written_nowhere(project: Project, tmp_path: Path) -> None:
    config = project.config()
    config["cloudzero"] = {"target": "live"}
    project.write_config(config)
    home = project.root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    with start_sandbox(tmp_path / "cloudzero", api_key=KEY) as cloudzero:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ANYCOST_CONFIG": str(project.config_file),
            "CLOUDZERO_API_URL": cloudzero.url,
            "CLOUDZERO_API_KEY": KEY,
            "SIMPLE_CLOUD_CONNECTION_ID": "conn-secret-test",
        }
        good = _run(project, env, "2024-08")
        assert good.returncode == 0, good.stderr
        assert len(cloudzero.store.month_rows("conn-secret-test", "2024-08")) == 250
        # A key CloudZero refuses: the failure is explained without echoing the key.
        wrong = _run(project, {**env, "CLOUDZERO_API_KEY": KEY + "-WRONG"}, "2024-07")
        assert wrong.returncode == 1
        assert "403" in wrong.stdout + wrong.stderr and "scopes" in wrong.stdout + wrong.stderr

    written = [good.stdout, good.stderr, wrong.stdout, wrong.stderr]
    files = [p for p in project.root.rglob("*") if p.is_file()] + [
        p for p in (tmp_path / "cloudzero").rglob("*") if p.is_file()
    ]
    assert any(p.suffix == ".parquet" for p in files) and any(
        "sqlite" in p.name or p.suffix == ".db" for p in files
    )
    # Positive control: the connection id, which the metadata does show, is found by the same search.
    assert any(b"conn-secret-test" in p.read_bytes() for p in home.rglob("*") if p.is_file())
    leaks = [p for p in files if KEY.encode() in p.read_bytes()] + [
        i for i, text in enumerate(written) if KEY in text
    ]
    assert leaks == [], f"the API key was written to: {leaks}"
