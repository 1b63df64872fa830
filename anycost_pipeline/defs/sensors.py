"""Sensors: one per `files` source. A new, changed or removed export file requests its months.

The sensor lists the source's location (names, sizes, versions; no file is downloaded), keeps
each file's fingerprint and months in its cursor, reads only new or changed files to learn
which months they touch, and requests one run per month of the connection's job
(raw → cbf → drop, blocking checks included).
"""

import hashlib
import json

import dagster as dg

from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.cbf.mapping import months_of, with_usage_hour
from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.defs.names import SOURCE_TAG, TRIGGER_TAG, connection_job_name, sensor_name
from anycost_pipeline.sources.files import SourceFilesError, file_infos, read_file

INTERVAL_SECONDS = 60


def _run_key(source: str, month: str, tokens: list[str]) -> str:
    # The fingerprints are part of the key: the same file delivered again triggers again.
    digest = hashlib.sha256("\n".join(sorted(tokens)).encode()).hexdigest()[:16]
    return f"{source}:{month}:{digest}"


def evaluate(
    context: dg.SensorEvaluationContext,
    name: str,
    source: FilesSource,
    pattern: str,
    partition_keys: set[str],
) -> dg.SensorResult:
    """One tick: compare the listing with the cursor and request the months that changed."""
    previous: dict[str, list] = json.loads(context.cursor)["files"] if context.cursor else {}
    listed = {info.path: info.fingerprint for info in file_infos(pattern)}
    seen: dict[str, list] = {}
    touched: dict[str, list[str]] = {}
    for path, fingerprint in listed.items():
        before = previous.get(path)
        if before and before[0] == fingerprint:
            seen[path] = before
            continue
        try:
            frame = with_usage_hour(
                read_file(name, source, path),
                name,
                source.time_column,
                source.timezone,
                source.time_format,
                source.ambiguous_time,
            )
            months = months_of(frame)
        except (SourceFilesError, BadSourceData) as error:
            # The run for its old months (if any) will fail and show the same message.
            context.log.warning(f"{path}: cannot tell which months it holds: {error}")
            months = before[1] if before else []
        seen[path] = [fingerprint, months]
        for month in set(months) | set(before[1] if before else []):
            touched.setdefault(month, []).append(f"{path}@{fingerprint}")
    for path, (_, months) in previous.items():
        if path not in listed:  # a removed file takes its rows out of its months
            for month in months:
                touched.setdefault(month, []).append(f"{path}@removed")
    requests, outside = [], []
    for month in sorted(touched):
        if month not in partition_keys:
            outside.append(month)
            context.log.warning(
                f"source {name}: new or changed files hold rows for {month}, outside the months this "
                f"project sends (start_month to the current month); not requested: "
                + ", ".join(t.rsplit("@", 1)[0] for t in touched[month])
            )
            continue
        requests.append(
            dg.RunRequest(
                run_key=_run_key(name, month, touched[month]),
                partition_key=month,
                tags={SOURCE_TAG: name, TRIGGER_TAG: "files changed"},
            )
        )
    context.log.info(
        f"source {name}: {len(listed)} file(s) listed, {len(touched)} month(s) touched, {len(requests)} run(s) requested"
    )
    cursor = json.dumps({"files": seen}, sort_keys=True)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    reason = f"no new or changed files for {name} in the project's months"
    if outside:
        reason += f"; months outside start_month..current month not requested: {', '.join(outside)}"
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor)


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
        return evaluate(context, name, source, pattern, set(partitions.get_partition_keys()))

    return _watch
