"""Frames and export files in an object store: moto's S3 server on 127.0.0.1, read through s3fs
with the endpoint from AWS_ENDPOINT_URL, as the README shows."""

import re
from decimal import Decimal
from pathlib import Path

import dagster as dg
import fsspec
import pytest
import yaml
from s3fs import S3FileSystem

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import REPO, Project

SENSOR = "watch_simple_cloud"
JOB = "send_simple_cloud_main"
EXPORTS = "s3://billing-exports/simple_cloud"


def readme_storage_block() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return yaml.safe_load(next(b for b in blocks if b.startswith("storage: s3://")))


def _s3_project(project: Project, s3: fsspec.AbstractFileSystem) -> dict:
    storage = readme_storage_block()
    bucket = storage["storage"].removeprefix("s3://").split("/")[0]
    s3.mkdir(bucket)
    s3.mkdir(EXPORTS.removeprefix("s3://").split("/")[0])
    for file in sorted(project.data_dir.glob("*.csv")):
        s3.pipe(f"{EXPORTS}/{file.name}", file.read_bytes())
    config = project.config()
    config.update(storage)
    config["sources"]["simple_cloud"]["path"] = f"{EXPORTS}/*.csv"
    project.write_config(config)
    return storage


def _sent_total(project: Project, month: str) -> Decimal:
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)
    return sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))


def _local_total(project: Project, month: str) -> Decimal:
    total = Decimal(0)
    for file in project.data_dir.glob(f"simple_cloud_{month}-*.csv"):
        for line in file.read_text().splitlines()[1:]:
            total += Decimal(line.rsplit(",", 1)[1])
    return total


def test_a_month_from_s3_exports_stored_as_frames_in_s3_sensor_included(
    project: Project, s3: fsspec.AbstractFileSystem
) -> None:
    storage = _s3_project(project, s3)
    frames = storage["storage"].rstrip("/") + "/frames"
    assert main(["validate"]) == 0
    instance = dg.DagsterInstance.ephemeral()
    defs = project.definitions()
    sensor = defs.resolve_sensor_def(SENSOR)
    first = sensor(dg.build_sensor_context(instance=instance, cursor=None))
    assert sorted(r.partition_key for r in first.run_requests) == ["2024-07", "2024-08"]

    result = defs.resolve_job_def(JOB).execute_in_process(
        partition_key="2024-08", instance=instance
    )
    assert result.success
    assert _sent_total(project, "2024-08") == _local_total(project, "2024-08")
    stored = {p.removeprefix(frames.removeprefix("s3://")) for p in s3.find(frames)}
    assert {"/raw/simple_cloud/2024-08.parquet", "/cbf/simple_cloud/2024-08.parquet"} <= stored
    assert any(p.startswith("/drop/") for p in stored)
    # Nothing became a local folder named after the URL; the state is in `state`.
    assert not list(project.root.rglob("s3:*"))
    assert (project.root / storage["state"] / "sandbox").is_dir()

    # An edit of one export that keeps its size: the ETag changes, the sensor requests August.
    name = f"{EXPORTS}/simple_cloud_2024-08-16.csv"
    edited = s3.cat(name).replace(b"12.00", b"99.00", 1)
    s3.pipe(name, edited)
    changed = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert [r.partition_key for r in changed.run_requests] == ["2024-08"]
    result = defs.resolve_job_def(JOB).execute_in_process(
        partition_key="2024-08", instance=instance
    )
    assert result.success
    assert _sent_total(project, "2024-08") == _local_total(project, "2024-08") + Decimal("87.00")
    again = sensor(dg.build_sensor_context(instance=instance, cursor=changed.cursor))
    assert not again.run_requests


def test_object_store_storage_without_a_local_state_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.config()
    config["storage"] = readme_storage_block()["storage"]
    project.write_config(config)
    assert main(["validate"]) == 1
    error = capsys.readouterr().err
    assert "storage" in error and "`state:`" in error and "Traceback" not in error
    assert not list(Path(project.root).rglob("s3:*"))

    config["state"] = "s3://finops-anycost/state"
    project.write_config(config)
    assert main(["validate"]) == 1
    assert "state: 's3://finops-anycost/state' is a URL" in capsys.readouterr().err


def test_an_object_store_that_stops_answering_is_named_by_anycost_run(
    project: Project,
    s3: fsspec.AbstractFileSystem,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The frames' bucket becomes unreachable (the server is gone): the run names the error
    and says nothing was sent (it said "Error occurred while executing op …" and "fix what is
    named above" with nothing named)."""
    from anycost_pipeline_tests.servers import free_port

    _s3_project(project, s3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    S3FileSystem.clear_instance_cache()
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert "FAILED raw/simple_cloud:" in said, said
    assert "Error occurred while" not in said, said
    assert "127.0.0.1" in said, said  # the endpoint that did not answer is named
    assert "2024-08: nothing sent. Nothing was sent for it" in said, said
