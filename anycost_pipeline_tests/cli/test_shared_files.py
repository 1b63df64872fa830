"""Two `files` sources of one connection that read the same export: refused before anything is
sent (their month would hold every row of the shared file twice), naming both and a file."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline_tests.conftest import Project

ONE_DAY = "sample_data/simple_cloud/simple_cloud_2024-08-01.csv"


def _held(project: Project, month: str) -> list[dict]:
    return SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)


def _with_second_reader(project: Project) -> None:
    config = project.config()
    config["sources"]["one_day"] = {**config["sources"]["simple_cloud"], "path": ONE_DAY}
    project.write_config(config)


def test_add_source_write_on_a_file_a_source_already_reads_writes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    before = project.config_file.read_text()
    code = main(["add-source", ONE_DAY, "--name", "one_day", "--write"])
    said = capsys.readouterr()
    assert code == 1, said.out + said.err
    assert project.config_file.read_text() == before
    assert "source 'simple_cloud' of connection 'simple_cloud_main' already reads" in said.err
    assert "simple_cloud_2024-08-01.csv" in said.err and "'one_day'" in said.err
    assert "nothing was written" in said.err


def test_validate_and_load_refuse_two_sources_reading_one_file(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_second_reader(project)
    with pytest.raises(ConfigError, match="simple_cloud and one_day both read"):
        load_config()
    assert main(["validate"]) == 1
    said = capsys.readouterr()
    assert "No problems found" not in said.out
    assert "sample_data/simple_cloud/simple_cloud_2024-08-01.csv" in said.out + said.err


def test_run_sends_nothing_for_two_sources_reading_one_file(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    _with_second_reader(project)
    assert main(["run", "2024-08"]) == 1
    said = capsys.readouterr()
    assert "simple_cloud and one_day both read" in said.err
    assert _held(project, "2024-08") == []


def test_a_month_whose_sources_share_a_file_is_refused_when_sent() -> None:
    """The Dagster path (sensor, UI, backfill) checks the month's own rows: a remote listing
    is not made when the definitions load."""
    import polars as pl

    from anycost_pipeline.cbf.verdicts import with_verdict
    from anycost_pipeline.config import AnycostConfig
    from anycost_pipeline.delivery import MonthRefused, month_to_send

    columns = {"time/usage_start": "t", "cost/cost": "c"}
    source = {"connection": "c", "path": "s3://bucket/*.csv", "columns": columns}
    project = AnycostConfig.model_validate(
        {
            "start_month": "2024-01",
            "connections": {"c": {"connection_id": "c"}},
            "sources": {"a": source, "b": source},
        }
    )
    row = {
        "time/usage_start": "2024-08-01T00:00:00Z",
        "cost/cost": "1",
        "_source_file": "s3://bucket/x.csv",
        "_source_row": 2,
    }
    checked = with_verdict(pl.DataFrame([row]), [])
    frames = {"a": checked, "b": checked}
    with pytest.raises(MonthRefused, match="sources a and b both read s3://bucket/x.csv"):
        month_to_send(project, "c", frames, "2024-08")


def test_add_source_writes_a_first_source_into_an_empty_anycost_yaml(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The empty file's error says `anycost add-source EXPORT --write` writes a first source."""
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    project.config_file.write_text("# to do\n")
    assert main(["validate"]) == 1
    assert "add-source EXPORT --write" in capsys.readouterr().err
    assert main(["add-source", ONE_DAY, "--name", "one_day", "--write"]) == 0
    assert list(load_config().sources) == ["one_day"]


def test_add_source_without_write_warns_that_write_would_be_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    assert main(["add-source", ONE_DAY, "--name", "one_day"]) == 0
    said = capsys.readouterr().out
    assert "Warning: " in said and "source 'simple_cloud' of connection" in said
    assert "--write refuses to add it" in said
