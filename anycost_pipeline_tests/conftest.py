"""Shared fixtures: a throwaway copy of the example project with its own storage."""

import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest
import yaml
from hypothesis import HealthCheck, settings

import anycost_pipeline

if TYPE_CHECKING:
    import fsspec

# Property tests explore new examples on a developer's machine (Hypothesis' default profile,
# which also replays the failures it saved in .hypothesis/), but CI must not fail on a day
# nobody changed anything: there every test draws the same examples, derived from the test
# itself, and prints the failing example's reproduction blob. HYPOTHESIS_PROFILE=ci picks the
# CI profile by hand (to reproduce a CI failure locally).
# No profile has a deadline or the "too slow" health check: each is a timing threshold, and
# fails an example that a loaded machine merely ran slowly ("Unreliable test timings").
UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", **UNTIMED)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **UNTIMED)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data" / "simple_cloud"
PACKAGE_DIR = Path(anycost_pipeline.__file__).parent


@dataclass
class Project:
    """A copy of the example project in a temporary folder."""

    root: Path
    config_file: Path

    @property
    def storage(self) -> Path:
        return self.root / ".anycost"

    @property
    def data_dir(self) -> Path:
        return self.root / "sample_data" / "simple_cloud"

    def config(self) -> dict:
        return yaml.safe_load(self.config_file.read_text())

    def write_config(self, data: dict) -> None:
        self.config_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def definitions(self) -> dg.Definitions:
        return dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=PACKAGE_DIR))

    def materialize_month(
        self, month: str, *, raise_on_error: bool = True
    ) -> dg.ExecuteInProcessResult:
        """Run the submit_month job for one month, in process, on an ephemeral instance."""
        job = self.definitions().resolve_job_def("submit_month")
        return job.execute_in_process(partition_key=month, raise_on_error=raise_on_error)


def instance_at(home: Path) -> dg.DagsterInstance:
    """The Dagster instance in `home`, opened as a process whose DAGSTER_HOME is `home` opens it
    (the run history's settings locate its files by DAGSTER_HOME: anycost_pipeline/run_history.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        return dg.DagsterInstance.from_config(str(home))


def printed_words(capsys: pytest.CaptureFixture[str]) -> str:
    """What a command run in process printed since the last call, out and err, as one line of
    words (the CLI wraps long sentences)."""
    printed = capsys.readouterr()
    return " ".join((printed.out + printed.err).split())


@pytest.fixture(autouse=True)
def _sigterm_ends_child_processes() -> None:
    """A test starts with SIGTERM's default action. pytest-xdist's workers ignore SIGINT, and
    a Dagster run in process gives SIGTERM what SIGINT does when it ends, so every server a
    later test started in that worker would inherit an ignored SIGTERM and never stop."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    root = tmp_path / "project"
    shutil.copytree(SAMPLE_DATA, root / "sample_data" / "simple_cloud")
    shutil.copy(REPO / "anycost.yaml", root / "anycost.yaml")
    monkeypatch.setenv("ANYCOST_CONFIG", str(root / "anycost.yaml"))
    monkeypatch.delenv("SIMPLE_CLOUD_CONNECTION_ID", raising=False)
    # `anycost` sets DAGSTER_HOME for the rest of its process: in a test process that would
    # carry one test's instance into the next, so each test starts without it.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    yield Project(root, root / "anycost.yaml")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator["fsspec.AbstractFileSystem"]:
    """moto's S3 server on 127.0.0.1, with the AWS variables that point s3fs at it, empty at
    the start and at the end (moto keeps its buckets per process, whatever server)."""
    import fsspec
    import requests
    from s3fs import S3FileSystem

    from anycost_pipeline_tests.servers import s3_server

    with s3_server() as url:
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        S3FileSystem.clear_instance_cache()  # an instance of another test knows another server
        yield fsspec.filesystem("s3")
        S3FileSystem.clear_instance_cache()
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
