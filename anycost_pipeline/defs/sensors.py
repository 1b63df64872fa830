"""Sensors: one per `files` source. A new, changed or removed export file requests its months.

The sensor lists the source's location (names, sizes, ETags or version ids; a local file is
hashed when it was written since the last look), keeps each file's fingerprint and months in its
cursor, reads only new or changed files to learn which months they touch (a file with a row in
no month is read and requested again at every look until it is fixed), and requests one run per
month of the connection's job (raw → cbf → drop, blocking checks included).
"""

import dagster as dg

from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.defs.names import SOURCE_TAG, TRIGGER_TAG, connection_job_name, sensor_name
from anycost_pipeline.figures import counted
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
