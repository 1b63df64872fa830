"""Sensors: one per `files` source, and one more per incremental source.

A new, changed or removed export file requests its months: the files sensor lists the source's location (names, sizes, ETags or version ids; a local file is
hashed when it was written since the last look), keeps each file's fingerprint and months in its
cursor, reads only new or changed files to learn which months they touch (a file with a row in
no month is read and requested again at every look until it is fixed), and requests one run per
month of the connection's job (raw → cbf → drop, blocking checks included). The restated
sensor of an incremental source requests the months that later pulls changed (`restated`).
"""

import dagster as dg

from anycost_pipeline.config import AnycostConfig, AnySource, FilesSource
from anycost_pipeline.defs.names import (
    CONTENT_DIGEST,
    SOURCE_TAG,
    TRIGGER_TAG,
    connection_job_name,
    raw_key,
    restated_sensor_name,
    sensor_name,
)
from anycost_pipeline.figures import counted
from anycost_pipeline.sources.restated import load_digests
from anycost_pipeline.sources.watch import FileChanges, file_changes

INTERVAL_SECONDS = 60


def files_sensor(
    name: str, source: FilesSource, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.SensorDefinition:
    pattern = project.resolve_path(source.path)

    @dg.sensor(
        name=sensor_name(name),
        job_name=connection_job_name(source.connection),
        minimum_interval_seconds=INTERVAL_SECONDS,
        description=(
            f"Watches `{source.path}` and sends every month whose files are new, changed or removed "
            f"(connection `{source.connection}`)."
        ),
    )
    def _watch(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        keys = partitions.get_partition_keys()
        changes = file_changes(name, source, pattern, context.cursor, keys[-1])
        for line in changes.unreadable:
            context.log.warning(line)
        return month_requests(context, name, changes, set(keys))

    return _watch


def month_requests(
    context: dg.SensorEvaluationContext, name: str, changes: FileChanges, partition_keys: set[str]
) -> dg.SensorResult:
    """One run per touched month of the project; months outside it are only reported."""
    requests, outside = [], []
    for month in sorted(changes.touched):
        if month not in partition_keys:
            outside.append(month)
            context.log.warning(
                f"source {name}: new or changed files hold rows for {month}, outside the months this "
                f"project sends (start_month to the current month); not requested: "
                + ", ".join(changes.paths(month))
            )
            continue
        requests.append(
            dg.RunRequest(
                run_key=changes.run_key(name, month),
                partition_key=month,
                tags={SOURCE_TAG: name, TRIGGER_TAG: "files changed"},
            )
        )
    context.log.info(
        f"source {name}: {counted(changes.listed, 'file')} listed, "
        f"{counted(len(changes.touched), 'month')} touched, {counted(len(requests), 'run')} requested"
    )
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=changes.cursor)
    reason = f"no new or changed files for {name} in the project's months"
    if outside:
        reason += f"; months outside start_month..current month not requested: {', '.join(outside)}"
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=changes.cursor)


def restated_sensor(
    name: str, source: AnySource, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.SensorDefinition:
    """For an incremental source: sends again every month that later pulls changed since its
    own last raw run (a record restated from August into September changes August too)."""
    key = dg.AssetKey(raw_key(name))

    @dg.sensor(
        name=restated_sensor_name(name),
        job_name=connection_job_name(source.connection),
        minimum_interval_seconds=INTERVAL_SECONDS,
        description=(
            f"Sends again each month of `{name}` whose records a later pull restated, moved in or "
            f"moved out (connection `{source.connection}`)."
        ),
    )
    def _restated(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        digests = load_digests(project.storage_path, name)
        requests = []
        for month in sorted(set(digests) & set(partitions.get_partition_keys())):
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
            ).records
            event = records[0].asset_materialization if records else None
            seen = event.metadata.get(CONTENT_DIGEST) if event else None
            if seen is not None and seen.value == digests[month]:
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{name}:{month}:{digests[month]}",
                    partition_key=month,
                    tags={SOURCE_TAG: name, TRIGGER_TAG: "restated"},
                )
            )
        if requests:
            return dg.SensorResult(run_requests=requests)
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no month of {name} changed since its last raw run")
        )

    return _restated
