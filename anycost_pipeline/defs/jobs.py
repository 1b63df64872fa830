"""Jobs: one month of every source or of one connection, from export files to a submitted
drop; and the reconciliation of a month, which sends nothing. Each is partitioned by month,
as the assets and checks it selects are."""

import socket
from typing import TYPE_CHECKING

import dagster as dg

from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.names import (
    HOST_TAG,
    RECONCILE_MONTH,
    SUBMIT_MONTH,
    cbf_key,
    connection_job_name,
    drop_key,
    raw_key,
    scoped,
)

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def _host() -> dict[str, str]:
    """The machine of the code server that builds the job, on every run of a job that sends:
    with Dagster's default launcher the run's worker runs there, so a later `anycost run` on
    that machine can tell that a killed run's worker is gone (defs/pools.py: worker_gone)."""
    return {HOST_TAG: socket.gethostname()}


def submit_month_job(project: AnycostConfig) -> "UnresolvedAssetJobDefinition":
    # The project's own assets only: a host project's other assets are not its business.
    keys = [dg.AssetKey(key(s)) for s in project.sources for key in (raw_key, cbf_key)]
    fed = list(project.connections)
    selection = dg.AssetSelection.assets(*keys, *(dg.AssetKey(drop_key(c)) for c in fed))
    return dg.define_asset_job(
        scoped(SUBMIT_MONTH, project.scope),
        selection=selection.required_multi_asset_neighbors(),
        # One process per month: a month's steps run in sequence, polars uses every core by
        # itself, and a process per step would cost seconds of start-up each.
        executor_def=dg.in_process_executor,
        tags=_host(),  # also its runs' tags (`dagster job launch` reads only these)
        description="Read, convert, check and send one month of every source (raw → cbf → drop).",
    )


def connection_job(connection: str, sources: list[str]) -> "UnresolvedAssetJobDefinition":
    keys = [dg.AssetKey(key(s)) for s in sources for key in (raw_key, cbf_key)]
    selection = dg.AssetSelection.assets(*keys, dg.AssetKey(drop_key(connection)))
    return dg.define_asset_job(
        connection_job_name(connection),
        # cbf/<source> of an `on_bad_rows: reject` source also makes rejects/<source>, and the
        # job must select both, or the code location does not load.
        selection=selection.required_multi_asset_neighbors(),
        executor_def=dg.in_process_executor,
        tags=_host(),  # also its runs' tags (`dagster job launch` reads only these)
        description=f"Read, convert, check and send one month of connection `{connection}` (raw → cbf → drop); started by its sensors and schedules.",
    )


def reconcile_job(
    checks: list[dg.AssetChecksDefinition], scope: str = ""
) -> "UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        scoped(RECONCILE_MONTH, scope),
        selection=dg.AssetSelection.checks(*checks),
        description=(
            "Compare what CloudZero holds for a month (tag `dagster/partition`: YYYY-MM) with what "
            "was last sent, without sending anything. Set `compare_contents: true` in the launchpad "
            "config to compare cost totals too."
        ),
    )
