"""drop/<connection> tells what a submission changed against the previous one of the month."""

import csv
from decimal import Decimal

import dagster as dg

from anycost_pipeline.defs.names import cbf_op, drop_op, raw_op
from anycost_pipeline.figures import shown
from anycost_pipeline_tests.conftest import Project


def _drop_metadata(result: dg.ExecuteInProcessResult) -> dict:
    return {
        k: v.value
        for k, v in result.asset_materializations_for_node(drop_op("simple_cloud_main"))[
            0
        ].metadata.items()
    }


def test_resubmission_reports_rows_added_removed_changed_and_cost_delta(project: Project) -> None:
    first = _drop_metadata(project.materialize_month("2024-08"))
    assert (first["rows_added"], first["rows_removed"], first["rows_changed"]) == (250, 0, 0)
    assert (
        first["change"].startswith("First submission of 2024-08")
        and first["cost_delta_exact"] == "+1033.51"
    )
    assert "| Compute | 63 | 506.05 |" in first["cost_by_service"]
    assert "`simple_cloud_2024-08-16.csv`" in first["files_used"]

    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    day.write_text(
        day.read_text().replace("Compute,prod-001,usage,12.00", "Compute,prod-001,usage,112.00")
    )
    removed_day = project.data_dir / "simple_cloud_2024-08-17.csv"
    removed = list(csv.DictReader(removed_day.open()))
    removed_cost = sum((Decimal(r["amount"]) for r in removed), Decimal(0))
    removed_compute = sum(
        (Decimal(r["amount"]) for r in removed if r["service"] == "Compute"), Decimal(0)
    )
    removed_day.unlink()
    # The file is withdrawn, not rotated away: its rows leave the month.
    config = project.config()
    config["sources"]["simple_cloud"]["deleted_files"] = "remove"
    project.write_config(config)
    second = _drop_metadata(project.materialize_month("2024-08"))
    assert (second["rows_added"], second["rows_removed"], second["rows_changed"]) == (0, 8, 1)
    assert Decimal(second["cost_delta_exact"]) == 100 - removed_cost
    assert "`simple_cloud_2024-08-17.csv`" not in second["files_used"]
    compute = 100 - removed_compute
    assert f"| Compute | {'+' if compute > 0 else ''}{compute} |" in second["cost_delta_by_service"]
    assert "8 removed, 1 changed" in second["change"]


def test_every_layer_carries_the_at_a_glance_metadata(project: Project) -> None:
    result = project.materialize_month("2024-07")
    for node in (raw_op("simple_cloud"), cbf_op("simple_cloud"), drop_op("simple_cloud_main")):
        metadata = {
            k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()
        }
        assert metadata["rows"] == 250 and metadata["month"] == "2024-07", node
        assert (
            isinstance(metadata["total_cost"], float) and metadata["total_cost_exact"] == "1054.29"
        ), node
        assert "| Support | 1 | 31.91 |" in metadata["cost_by_service"], node
        assert "| 1 | -25.00 |" in metadata["cost_by_line_item_type"], (
            node
        )  # the credit, as `credit` or `Credit`
        assert "simple_cloud_2024-07-31.csv" in metadata["files_used"], node


def test_money_cells_read_as_the_cli_prints_them(project: Project) -> None:
    """The UI's cost tables show each total as `anycost run` prints it: `-25.00`, never `-25`."""
    result = project.materialize_month("2024-07")
    for node in (raw_op("simple_cloud"), cbf_op("simple_cloud"), drop_op("simple_cloud_main")):
        metadata = result.asset_materializations_for_node(node)[0].metadata
        for key in ("cost_by_service", "cost_by_line_item_type"):
            table = str(metadata[key].value)
            costs = [line.strip("|").split("|")[-1].strip() for line in table.splitlines()[2:]]
            assert costs and all(cost == shown(cost) for cost in costs), (node, key, costs)
