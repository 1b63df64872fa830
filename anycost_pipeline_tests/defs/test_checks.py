"""The reconciliation check: CloudZero must still hold what the pipeline last sent."""

from decimal import Decimal

import dagster as dg

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.defs.names import MATCHES_CLOUDZERO, RECONCILE_MONTH, reconcile_op
from anycost_pipeline_tests.conftest import Project

CHECK_OP = reconcile_op("simple_cloud_main")


def _reconcile(
    project: Project, instance: dg.DagsterInstance, month: str, *, contents: bool = False
) -> dg.AssetCheckEvaluation:
    result = (
        project.definitions()
        .resolve_job_def(RECONCILE_MONTH)
        .execute_in_process(
            # A checks-only job has no assets to carry the partitions, so the month goes in as a tag.
            tags={"dagster/partition": month},
            instance=instance,
            run_config={"ops": {CHECK_OP: {"config": {"compare_contents": contents}}}},
        )
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == MATCHES_CLOUDZERO
    return evaluation


def test_check_fails_when_the_month_is_changed_behind_the_pipelines_back(project: Project) -> None:
    instance = dg.DagsterInstance.ephemeral()
    submitted = (
        project.definitions()
        .resolve_job_def("submit_month")
        .execute_in_process(partition_key="2024-08", instance=instance)
    )
    assert {e.check_name: e.passed for e in submitted.get_asset_check_evaluations()}[
        MATCHES_CLOUDZERO
    ] is True
    assert _reconcile(project, instance, "2024-08", contents=True).passed

    store = SandboxStore(project.storage / "sandbox")
    store.apply(
        "simple_cloud_main",
        "2024-08",
        "sum",
        [{"time/usage_start": "2024-08-16T00:00:00Z", "cost/cost": "5.00"}],
    )
    evaluation = _reconcile(project, instance, "2024-08")
    assert not evaluation.passed
    assert (
        evaluation.metadata["sent_rows"].value == 250
        and evaluation.metadata["cloudzero_rows"].value == 251
    )
    assert "CloudZero holds 251 rows, the last submission sent 250" in evaluation.description  # type: ignore[operator]


def test_contents_mode_catches_a_changed_cost_with_the_same_row_count(project: Project) -> None:
    instance = dg.DagsterInstance.ephemeral()
    project.definitions().resolve_job_def("submit_month").execute_in_process(
        partition_key="2024-08", instance=instance
    )
    store = SandboxStore(project.storage / "sandbox")
    hour = "2024-08-16T00:00:00Z"
    rows = [
        r for r in store.month_rows("simple_cloud_main", "2024-08") if r["time/usage_start"] == hour
    ]
    rows[0] = {**rows[0], "cost/cost": str(Decimal(rows[0]["cost/cost"]) + 100)}
    store.apply("simple_cloud_main", "2024-08", "replace_hourly", rows)

    by_drop = _reconcile(project, instance, "2024-08")  # same row count, but a later drop
    assert not by_drop.passed and "latest drop for the month is sandbox-" in by_drop.description  # type: ignore[operator]
    evaluation = _reconcile(project, instance, "2024-08", contents=True)
    assert not evaluation.passed
    assert evaluation.metadata["sent_total"].value == "1033.51"
    assert evaluation.metadata["cloudzero_total"].value == "1133.51"
    assert "cost total is 1133.51, the last submission sent 1033.51" in evaluation.description  # type: ignore[operator]


def test_a_month_changed_and_changed_back_is_never_silently_wrong(project: Project) -> None:
    """A → B → A: either CloudZero holds A again, or the submission's check says it does not."""
    instance = dg.DagsterInstance.ephemeral()
    job = project.definitions().resolve_job_def("submit_month")
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    original = day.read_text()
    job.execute_in_process(partition_key="2024-08", instance=instance)
    day.write_text(
        original.replace("Compute,prod-001,usage,12.00", "Compute,prod-001,usage,112.00")
    )
    job.execute_in_process(partition_key="2024-08", instance=instance)
    day.write_text(original)
    result = job.execute_in_process(partition_key="2024-08", instance=instance)

    held = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    held_total = sum((Decimal(r["cost/cost"]) for r in held), Decimal(0))
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == MATCHES_CLOUDZERO
    ]
    assert held_total == Decimal("1033.51") or (
        not check.passed and "latest drop" in (check.description or "")
    )
