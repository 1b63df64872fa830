"""`storage` in an object store: `anycost validate` checks that its bucket exists and can be
written, and neither validate nor the first write creates a missing bucket (a misspelt name
would otherwise become a new bucket holding the frames). moto's S3 server on 127.0.0.1."""

from collections.abc import Iterator

import fsspec
import pytest
import requests
from s3fs import S3FileSystem

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.servers import s3_server


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[fsspec.AbstractFileSystem]:
    with s3_server() as url:
        # moto keeps its buckets per process, whatever server: start from none, leave none.
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        S3FileSystem.clear_instance_cache()
        yield fsspec.filesystem("s3")
        S3FileSystem.clear_instance_cache()
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()


def _store_frames_in(project: Project, storage: str) -> None:
    config = project.config()
    config.update({"storage": storage, "state": ".anycost"})
    project.write_config(config)


def _buckets(s3: fsspec.AbstractFileSystem) -> list[str]:
    s3.invalidate_cache()
    return s3.ls("")


def test_validate_names_a_missing_bucket_and_does_not_create_it(
    project: Project, s3: fsspec.AbstractFileSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.mkdir("finops-anycost")
    _store_frames_in(project, "s3://finops-anycots/frames-store")  # the typo
    assert main(["validate"]) == 1
    printed = " ".join(capsys.readouterr().out.split())
    assert "the bucket 'finops-anycots' of 's3://finops-anycots/frames-store' does not exist" in (
        printed
    )
    assert "The adaptor does not create buckets" in printed
    assert "aws s3 mb s3://finops-anycots" in printed
    assert _buckets(s3) == ["finops-anycost"]


def test_validate_says_an_existing_bucket_can_be_written_and_leaves_nothing_in_it(
    project: Project, s3: fsspec.AbstractFileSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.mkdir("finops-anycost")
    _store_frames_in(project, "s3://finops-anycost/frames-store")
    assert main(["validate"]) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert (
        "frames: s3://finops-anycost/frames-store/frames (the bucket exists and can be written)"
        in printed
    )
    assert f"state: {project.storage} (created at the first run)" in printed
    s3.invalidate_cache()
    assert s3.find("finops-anycost") == []  # the probe object was removed


def test_the_first_write_refuses_a_missing_bucket_instead_of_creating_it(
    project: Project, s3: fsspec.AbstractFileSystem
) -> None:
    _store_frames_in(project, "s3://finops-anycots/frames-store")
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures
    text = " ".join(
        str(e.step_failure_data.user_failure_data.description)
        if e.step_failure_data.user_failure_data
        else str(e.step_failure_data.error)
        for e in failures
    )
    assert "the bucket 'finops-anycots'" in text and "does not exist" in text, text
    assert _buckets(s3) == []
    assert not result.get_asset_materialization_events()  # the drop never ran


def test_a_local_storage_that_cannot_be_written_is_a_problem(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / "taken").write_text("a file where the storage folder should be")
    config = project.config()
    config["storage"] = "taken/.anycost"
    project.write_config(config)
    assert main(["validate"]) == 1
    printed = capsys.readouterr().out
    assert f"storage: {project.root / 'taken'} is a file, where the folder" in printed


def test_an_unreachable_store_is_not_called_a_missing_bucket(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from anycost_pipeline_tests.servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    S3FileSystem.clear_instance_cache()
    _store_frames_in(project, "s3://finops-anycost/frames-store")
    assert main(["validate"]) == 1
    printed = " ".join(capsys.readouterr().out.split())
    assert "storage: cannot reach 's3://finops-anycost/frames-store'" in printed
    assert "does not exist" not in printed
    S3FileSystem.clear_instance_cache()
