"""A file that cannot be read stops only the months it holds: a September export with a
decimal comma and no quotes (a line with more fields than its header) does not stop August."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project, printed_words

HEADER = "date,service,account,charge_type,amount\n"


@pytest.mark.parametrize("months", [["2024-08"], []], ids=["august named", "every month"])
def test_a_bad_september_file_does_not_stop_august(
    project: Project, capsys: pytest.CaptureFixture[str], months: list[str]
) -> None:
    bad = project.data_dir / "simple_cloud_2024-09-01.csv"
    bad.write_text(HEADER + "2024-09-01,Compute,prod-001,usage,1.234,50\n")
    code = main(["run", *months])
    said = printed_words(capsys)
    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(held) == 250, said  # August was sent whole
    assert "2024-08: sent" in said
    if months:
        assert code == 0, said
        return
    # September itself fails, naming the file and the line, and nothing is sent for it.
    assert code == 1
    assert "simple_cloud_2024-09-01.csv as csv: line 2 has 6 fields where the header has 5" in said
    assert "2024-09: nothing sent" in said


def test_a_bad_file_whose_months_cannot_be_told_still_stops_every_month(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its stray separator comes before the time column: the line's time cannot be read, so
    which months it holds is not known, and no month is sent without it."""
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["time/usage_start"] = "date"
    project.write_config(config)
    bad = project.data_dir / "simple_cloud_2024-09-01.csv"
    bad.write_text("service,date,account,charge_type,amount\nComp,ute,2024-09-01,prod,usage,1.00\n")
    assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "line 2 has 6 fields where the header has 5" in said
    assert (
        SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08") == []
    )
