"""One run of a backfill, as Dagster launches it: its own process, the multiprocess executor.

`python -m anycost_pipeline_tests.defs.backfill_runner 2024-03 <tag>` runs the drop asset for one
month on the instance in $DAGSTER_HOME (the project is read from $ANYCOST_CONFIG).
"""

import sys

import dagster as dg

from anycost_pipeline_tests.conftest import PACKAGE_DIR


def drop_backfill_job() -> dg.JobDefinition:
    """The drop assets alone, each step in its own process."""
    defs = dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=PACKAGE_DIR))
    job = dg.define_asset_job(
        "drop_backfill",
        selection=dg.AssetSelection.key_prefixes("drop"),
        executor_def=dg.multiprocess_executor,
    )
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("drop_backfill")


def main(month: str, backfill: str) -> int:
    from anycost_pipeline_tests.defs.backfill_runner import drop_backfill_job as job

    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(
            dg.reconstructable(job),
            instance=instance,
            tags={"dagster/partition": month, "backfill": backfill},
        ) as result:
            return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
