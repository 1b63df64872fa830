"""Jobs: one month of every source, from export files to a submitted drop."""

from typing import TYPE_CHECKING

import dagster as dg

from anycost_pipeline.defs.names import (
    SUBMIT_MONTH,
    cbf_key,
    connection_job_name,
    drop_key,
    raw_key,
)
from anycost_pipeline.defs.project import month_partitions, project_config

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def connection_job(
    connection: str, sources: list[str], partitions: dg.PartitionsDefinition
) -> "UnresolvedAssetJobDefinition":
    keys = [dg.AssetKey(key(s)) for s in sources for key in (raw_key, cbf_key)]
    return dg.define_asset_job(
        connection_job_name(connection),
        selection=dg.AssetSelection.assets(*keys, dg.AssetKey(drop_key(connection))),
        partitions_def=partitions,
        executor_def=dg.in_process_executor,
        description=f"Read, convert, check and send one month of connection `{connection}` (raw → cbf → drop); started by its sensors and schedules.",
    )


@dg.definitions
def jobs() -> dg.Definitions:
    config = project_config()
    partitions = month_partitions(config)
    job = dg.define_asset_job(
        SUBMIT_MONTH,
        selection=dg.AssetSelection.all(include_sources=False),
        partitions_def=partitions,
        # One process per month: a month's steps run in sequence, polars uses every core by
        # itself, and a process per step would cost seconds of start-up each.
        executor_def=dg.in_process_executor,
        description="Read, convert, check and send one month of every source (raw → cbf → drop).",
    )
    per_connection = [
        connection_job(c, sorted(config.sources_of(c)), partitions)
        for c in config.connections
        if config.sources_of(c)
    ]
    return dg.Definitions(jobs=[job, *per_connection])
