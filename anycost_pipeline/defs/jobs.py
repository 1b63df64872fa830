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
        description="Read, convert, check and send one month of every source (raw → cbf → drop).",
    )
    return dg.Definitions(jobs=[job])
