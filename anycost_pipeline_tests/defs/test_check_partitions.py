"""Every check of a month's assets is recorded against its month, so the UI shows which month
a failed check belongs to ("Partition 2024-08", not "Partition —"), and a later passing run of
that month replaces the failure instead of leaving the asset red."""

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project, instance_at


def test_a_failed_check_is_the_months_and_a_later_pass_of_the_month_replaces_it(
    project: Project,
) -> None:
    day = project.data_dir / "simple_cloud_2024-08-03.csv"
    good = day.read_text()
    day.write_text(good.replace("Compute,prod-001,usage,14.43", "Compute,prod-001,usage,14.43 EUR"))
    assert main(["run", "2024-08"]) == 1  # rows_valid fails: nothing sent
    day.write_text(good)
    assert main(["run", "2024-08"]) == 0

    with instance_at(project.root / "dagster_home") as instance:
        definitions = project.definitions()
        keys = [
            key
            for asset in definitions.resolve_all_asset_specs()
            for key in definitions.resolve_asset_graph().get_check_keys_for_assets([asset.key])
        ]
        assert keys
        infos = instance.event_log_storage.get_asset_check_partition_info(keys)
        rows_valid = dg.AssetCheckKey(dg.AssetKey(["cbf", "simple_cloud"]), "rows_valid")
        history = instance.event_log_storage.get_asset_check_execution_history(rows_valid, limit=5)
    # The failed try is on record, as August's (its checks never ran: the step failed first).
    assert [r.partition for r in history] == ["2024-08", "2024-08"]
    assert history[0].status == AssetCheckExecutionRecordStatus.SUCCEEDED
    seen = {(i.check_key.asset_key.to_user_string(), i.check_key.name): i for i in infos}
    assert ("cbf/simple_cloud", "rows_valid") in seen
    for (asset, name), info in seen.items():
        assert info.partition_key == "2024-08", f"{asset} {name}: partition {info.partition_key}"
        assert info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED, (
            f"{asset} {name}: {info.latest_execution_status}"
        )
