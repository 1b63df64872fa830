"""`anycost validate` reads each export file the way its source reads it: Parquet as Parquet, a
CSV with its delimiter and skipped lines, and an object whose name holds glob characters."""

from collections.abc import Iterator

import fsspec
import polars as pl
import pytest
import requests
from s3fs import S3FileSystem

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.servers import s3_server


def _point_source_at(project: Project, **settings: object) -> None:
    config = project.config()
    config["sources"]["simple_cloud"].update(settings)
    project.write_config(config)


def test_a_parquet_source_has_its_mapped_columns(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    for file in sorted(project.data_dir.glob("*.csv"))[:3]:
        frame = pl.read_csv(file, infer_schema=False)
        frame.write_parquet(file.with_suffix(".parquet"))
    _point_source_at(project, path="sample_data/simple_cloud/*.parquet", format="parquet")
    assert main(["validate"]) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert "3 files match sample_data/simple_cloud/*.parquet, mapped columns present" in printed


def test_a_parquet_file_without_a_mapped_column_is_named(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    (first,) = sorted(project.data_dir.glob("*.csv"))[:1]
    pl.read_csv(first, infer_schema=False).drop("service").write_parquet(
        project.data_dir / "no_service.parquet"
    )
    _point_source_at(project, path="sample_data/simple_cloud/*.parquet", format="parquet")
    assert main(["validate"]) == 1
    printed = capsys.readouterr().out
    assert "column 'service', used in its `columns` mapping, is missing from" in printed
    assert "no_service.parquet" in printed
    assert "'amount'" not in printed  # only the column that is really missing


def test_a_csv_with_its_own_delimiter_and_a_title_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    for file in sorted(project.data_dir.glob("*.csv")):
        text = file.read_text().replace(",", ";")
        file.write_text("Simple Cloud export\n" + text)
    _point_source_at(project, delimiter=";", skip_rows=1)
    assert main(["validate"]) == 0, capsys.readouterr().out
    assert "mapped columns present" in capsys.readouterr().out


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


def test_s3_objects_whose_names_hold_glob_characters_are_read(
    project: Project, s3: fsspec.AbstractFileSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.mkdir("billing-exports")
    names = ["august [v2].csv", "august?final.csv", "august*.csv"]
    sample = sorted(project.data_dir.glob("*.csv"))[0].read_bytes()
    for name in names:
        s3.pipe(f"billing-exports/simple_cloud/{name}", sample)
    _point_source_at(project, path="s3://billing-exports/simple_cloud/*.csv")
    assert main(["validate"]) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert "3 files match s3://billing-exports/simple_cloud/*.csv, mapped columns present" in (
        printed
    )
