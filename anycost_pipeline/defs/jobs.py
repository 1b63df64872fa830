"""Jobs: one month of every source, from export files to a submitted drop."""

import dagster as dg

from anycost_pipeline.defs.project import month_partitions, project_config

SUBMIT_MONTH = "submit_month"


@dg.definitions
def jobs() -> dg.Definitions:
    partitions = month_partitions(project_config())
    job = dg.define_asset_job(
        SUBMIT_MONTH,
        selection=dg.AssetSelection.all(include_sources=False),
        partitions_def=partitions,
        # One process per month: a month's steps run in sequence, polars uses every core by
        # itself, and a process per step would cost seconds of start-up each.
        executor_def=dg.in_process_executor,
        description="Read, convert, check and send one month of every source (raw → cbf → drop).",
    )
    return dg.Definitions(jobs=[job])
