"""Reconciliation and the change record follow the connection's operation: a correct
`replace_hourly` or `sum` month is reported as CloudZero holding what the last submission left,
not as a mismatch with advice to re-send (which on `sum` adds the month again)."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project


def _operation(project: Project, operation: str) -> None:
    config = project.config()
    config["connections"]["simple_cloud_main"]["operation"] = operation
    project.write_config(config)


def _keep_first_days_of_august(project: Project) -> None:
    for path in project.data_dir.glob("*2024-08-*.csv"):
        if path.name > "simple_cloud_2024-08-10":
            path.unlink()


def test_a_correct_replace_hourly_month_reconciles(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _operation(project, "replace_hourly")
    assert main(["run", "2024-08"]) == 0
    _keep_first_days_of_august(project)
    assert main(["run", "2024-08"]) == 0
    printed = capsys.readouterr().out
    assert "Replaced" in printed and "other hours are unchanged" in printed
    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(held) == 250  # the hours not sent again stay
    assert main(["reconcile", "2024-08", "--contents"]) == 0
    verdict = capsys.readouterr().out
    assert "OK" in verdict and "as the last submission left it (250 rows" in verdict
    assert "Rematerialise" not in verdict


def test_a_sum_month_reconciles_and_its_change_record_says_it_was_added(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _operation(project, "sum")
    assert main(["run", "2024-08"]) == 0
    _keep_first_days_of_august(project)
    assert main(["run", "2024-08"]) == 0
    printed = capsys.readouterr().out
    assert "to what CloudZero held for 2024-08 (operation sum)" in printed
    assert "→" not in printed.split("== 2024-08")[-1]  # no "before → after" of a replaced month
    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(held) > 250  # both submissions were added
    assert main(["reconcile", "2024-08"]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_sum_month_sent_again_after_it_was_emptied_says_what_cloudzero_gained(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The change record of a sum month is what CloudZero gained in this run, in the figures as
    in the words (they said 'Added 250 rows' beside rows_added 0 when the month sent equalled
    the previous frame)."""
    _operation(project, "sum")
    assert project.materialize_month("2024-08").success
    assert main(["delete-month", "simple_cloud_main", "2024-08", "--yes-delete-month"]) == 0
    result = project.materialize_month("2024-08")
    (drop,) = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path[0] == "drop"
    ]
    assert drop["status"].value == "sent"
    assert "Added 250 rows to what CloudZero held for 2024-08" in str(drop["change"].value)
    assert drop["rows_added"].value == 250
    assert drop["cost_delta_exact"].value == "+1033.51"
    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(held) == 250
