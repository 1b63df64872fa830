"""One path from the project's model to the Dagster definitions: `build_definitions(project)`.

The Dagster Component (`anycost_pipeline.AnycostComponent`) calls it, for a `defs.yaml` of any
Dagster project and for this project's own `anycost.yaml` (`defs/project.py`); the CLI calls it
too. The project is passed down to every factory, so nothing reads the YAML again while a run
is going.
"""

import warnings

import dagster as dg

from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.defs.cbf import cbf_asset
from anycost_pipeline.defs.checks import reconcile_check
from anycost_pipeline.defs.drop import drop_asset
from anycost_pipeline.defs.jobs import connection_job, reconcile_job, submit_month_job
from anycost_pipeline.defs.partitions import month_partitions
from anycost_pipeline.defs.plan_sensor import plan_sensor
from anycost_pipeline.defs.raw import raw_asset
from anycost_pipeline.defs.resources import resources
from anycost_pipeline.defs.schedules import refresh_schedule
from anycost_pipeline.defs.sensors import files_sensor, restated_sensor


def build_definitions(project: AnycostConfig) -> dg.Definitions:
    """Every asset, check, job, sensor, schedule and resource the project declares."""
    project.require_target_allowed()
    project.require_one_owner_per_connection_id()
    partitions = month_partitions(project)
    # Every connection, also one whose sources all moved away: its months are judged, and
    # cleared of what they left (`delivery.moved_away`), never left counted twice.
    fed = {c: sorted(project.sources_of(c)) for c in project.connections}
    with warnings.catch_warnings():
        # Checks recorded per month (partitioned asset checks) are a preview in this Dagster.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        assets: list[dg.AssetsDefinition] = []
        for name, source in project.sources.items():
            assets += [
                raw_asset(name, source, project, partitions),
                cbf_asset(name, source, project, partitions),
            ]
        assets += [drop_asset(c, sources, project, partitions) for c, sources in fed.items()]
        checks = [
            reconcile_check(c, project.connections[c], partitions, project.scope) for c in fed
        ]
    jobs = [
        submit_month_job(project),
        *(connection_job(c, sources) for c, sources in fed.items()),
        reconcile_job(checks, project.scope),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        sensors=[
            *(
                files_sensor(name, source, project, partitions)
                for name, source in project.sources.items()
                if isinstance(source, FilesSource)
            ),
            *(
                restated_sensor(name, source, project, partitions)
                for name, source in project.sources.items()
                if source.incremental
            ),
            *filter(None, (plan_sensor(c, project, partitions) for c in fed)),
        ],
        schedules=[
            refresh_schedule(name, source, project)
            for name, source in project.sources.items()
            if source.pulled
        ],
        resources=resources(project),
    )
