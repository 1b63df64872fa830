"""The cbf layer in Dagster: rejected rows, the FOCUS preset end to end, the warning check."""

import csv
import glob
import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.cbf.test_focus import _billed_by_month
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.defs.helpers import source_total

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _rows(project: Project, connection: str, month: str) -> list[dict]:
    return SandboxStore(project.storage / "sandbox").month_rows(connection, month)


def test_rejected_rows_are_kept_counted_and_the_rest_is_sent(project: Project) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["on_bad_rows"] = "reject"
    project.write_config(config)
    day = project.data_dir / "simple_cloud_2024-08-03.csv"
    day.write_text(
        day.read_text().replace("Compute,prod-001,usage,14.43", "Compute,prod-001,usage,14.43 EUR")
    )
    other = project.data_dir / "simple_cloud_2024-08-04.csv"
    lines = other.read_text().splitlines(keepends=True)
    untimed_amount = lines[1].strip().split(",")[-1]
    other.write_text(lines[0] + lines[1].replace("2024-08-04", "2024-08-32") + "".join(lines[2:]))
    result = project.materialize_month("2024-08")
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "rows_valid": True,
        "cost_conserved": True,
        "discounted_cost_matches": True,
        "matches_cloudzero": True,
        "no_double_count": True,
    }
    events = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert events["rejects/simple_cloud"]["rows"].value == 1
    assert (
        "simple_cloud_2024-08-03.csv | 2 | column 'amount': value '14.43 EUR'"
        in events["rejects/simple_cloud"]["first_rejects"].value
    )
    assert events["cbf/simple_cloud"]["rejected_rows"].value == 1
    # A time that cannot be read puts the row in no month: it is shown on raw, never lost silently.
    assert events["raw/simple_cloud"]["rows_without_a_time"].value == 1
    assert "| date | 2024-08-32 |" in events["raw/simple_cloud"]["first_rows_without_a_time"].value
    sent = _rows(project, "simple_cloud_main", "2024-08")
    assert len(sent) == 248
    everything = _source_total_without(project, "14.43 EUR")
    assert sum(Decimal(r["cost/cost"]) for r in sent) == everything - Decimal(untimed_amount)
    stored = list((project.storage / "frames" / "rejects" / "simple_cloud").glob("2024-08*"))
    assert len(stored) == 1, "the rejects are kept as a Parquet file a user can open"


def _source_total_without(project: Project, bad: str) -> Decimal:
    files = glob.glob(str(project.data_dir / "*2024-08-*.csv"))
    return sum(
        (
            Decimal(r["amount"])
            for f in files
            for r in csv.DictReader(open(f))
            if r["amount"] != bad
        ),
        Decimal(0),
    )


def test_focus_preset_source_end_to_end(project: Project) -> None:
    target = project.root / "focus"
    target.mkdir()
    shutil.copy(FIXTURES / "focus-1.0" / "focus_sample.csv", target)
    config = project.config()
    config["sources"] = {
        "focus": {
            "connection": "simple_cloud_main",
            "path": "focus/*.csv",
            "preset": "focus",
            "columns": {},
        }
    }
    project.write_config(config)
    result = project.materialize_month("2024-09")
    assert result.success
    sent = _rows(project, "simple_cloud_main", "2024-09")
    assert len(sent) == 1000
    with open(target / "focus_sample.csv", encoding="utf-8") as handle:
        billed = sum((Decimal(r["BilledCost"]) for r in csv.DictReader(handle)), Decimal(0))
    assert sum(Decimal(r["cost/cost"]) for r in sent) == billed


def test_cost_and_discounted_cost_gap_warns_but_does_not_block(project: Project) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["cost/discounted_cost"] = {"value": "0"}
    project.write_config(config)
    result = project.materialize_month("2024-08")
    assert result.success
    warning = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "discounted_cost_matches"
    )
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.metadata["cost_total"].value == str(source_total(project, "2024-08"))
    assert len(_rows(project, "simple_cloud_main", "2024-08")) == 250


def test_focus_1_2_scenarios_as_one_source_are_sent_month_by_month(project: Project) -> None:
    target = project.root / "focus12"
    target.mkdir()
    for path in (FIXTURES / "focus-1.2").glob("*.csv"):
        if "purchase_scenario_2" not in path.name and "purchase_scenario_3" not in path.name:
            shutil.copy(path, target)
    config = project.config()
    config["start_month"] = "2023-01"
    config["sources"] = {
        "focus": {"connection": "simple_cloud_main", "path": "focus12/*.csv", "preset": "focus"}
    }
    project.write_config(config)
    stated: dict[str, Decimal] = {}
    for path in target.glob("*.csv"):
        for month, billed in _billed_by_month(path).items():
            stated[month] = stated.get(month, Decimal(0)) + billed
    assert sorted(stated) == ["2023-01", "2025-04", "2025-05", "2025-06"]
    for month in ["2023-01", "2025-04"]:
        assert project.materialize_month(month).success
        sent = _rows(project, "simple_cloud_main", month)
        assert sum(Decimal(r["cost/cost"]) for r in sent) == stated[month]
