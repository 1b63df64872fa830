"""A row larger than a whole request body cannot be sent: the refusal names the source, the file
and the row (the CLI then says "fix what is named above"), and nothing is sent."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

LONG = "Compute " + "x" * 3000


def test_a_row_larger_than_a_body_is_named_by_source_file_and_row(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    export = project.data_dir / "simple_cloud_2024-08-02.csv"
    with export.open("a") as handle:
        handle.write(f"2024-08-02,{LONG},prod-001,usage,1.00\n")
    row = len(export.read_text().splitlines())  # the header is row 1
    config = project.config()
    config["cloudzero"]["limits"] = {"body_bytes": 2000}
    project.write_config(config)
    assert main(["run", "2024-08"]) == 1
    out = capsys.readouterr()
    said = out.out + out.err
    assert "source simple_cloud" in said, said
    assert f"simple_cloud_2024-08-02.csv, row {row}" in said, said
    assert "resource/service" in said and "nothing was sent" in said, said
    assert (
        SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08") == []
    )
