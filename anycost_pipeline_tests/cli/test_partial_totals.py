"""`anycost run` on a month with a value it cannot read: the raw/<source> line must not show a
total that looks like the month's (it leaves out the rows whose cost is unreadable)."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project


def test_a_raw_total_without_the_unreadable_costs_says_it_is_partial(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    export = project.data_dir / "simple_cloud_2024-08-02.csv"
    lines = export.read_text().splitlines()
    first = lines[1].split(",")
    first[-1] = "$" + first[-1]  # a currency sign: not a number
    export.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    assert main(["run", "2024-08"]) == 1
    said = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    (raw,) = [line for line in said if line.startswith("raw/simple_cloud ")]
    assert "partial" in raw and "1 row without a readable cost" in raw, raw
