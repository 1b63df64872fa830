"""Sensors: one per `files` source, and one more per incremental source.

A new, changed or removed export file requests its months: the files sensor lists the source's
location (names, sizes, ETags or version ids; a local file is hashed when it was written since
the last look), keeps each file's fingerprint and months in a state file
(`<state>/sensors/<source>.json`; the cursor keeps a small token), reads only new or changed
files, for at most a time budget per tick, to learn which months they touch, and requests one
run per month of the connection's job (raw → cbf → drop, blocking checks included). The
restated sensor of an incremental source requests the months that later pulls changed
(`restated`). The decisions are `sources.watch.look` and `sources.restated.restated_requests`.
"""

import os

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
from anycost_pipeline.sources.restated import load_digests, restated_requests
from anycost_pipeline.sources.watch import Look, look
from anycost_pipeline.sources.watch_state import (
    from_old_cursor,
    load_state,
    parse_cursor,
    save_state,
    settings_digest,
    state_file,
)
from anycost_pipeline.triggers import sum_resend_warning

INTERVAL_SECONDS = 60
# Dagster stops a sensor evaluation after 60 s (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS) and then
# keeps neither its cursor nor its requests: after this long (from the start of the listing) a
# tick reads no more files, leaving time for the state file and the requests; the next tick
# continues. The listing itself is not cut short: 10,000 objects take ~10 s to list from S3.
BUDGET_SECONDS = 20.0
BUDGET_ENV = "ANYCOST_SENSOR_BUDGET_SECONDS"
MAX_READS_ENV = "ANYCOST_SENSOR_MAX_READS"  # a cap on the files read per tick (tests)


def _budget() -> tuple[float, int | None]:
    seconds = float(os.environ.get(BUDGET_ENV) or BUDGET_SECONDS)
    reads = os.environ.get(MAX_READS_ENV)
    return seconds, int(reads) if reads else None


def files_sensor(
    name: str, source: FilesSource, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.SensorDefinition:
    pattern = project.resolve_path(source.path)
    where = state_file(project.storage_path, name)
    warning = sum_resend_warning(name, source, project)

    @dg.sensor(
        name=sensor_name(name),
        job_name=connection_job_name(source.connection),
        minimum_interval_seconds=INTERVAL_SECONDS,
        description=(
            f"Watches `{source.path}` and sends every month whose files are new, changed or removed "
            f"(connection `{source.connection}`)." + (f" WARNING: {warning}." if warning else "")
        ),
    )
    def _watch(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        token, old_files = parse_cursor(context.cursor)
        stored = load_state(where)
        if stored is None and old_files is not None:  # a cursor from before the state file
            stored = from_old_cursor(old_files, settings_digest(source))
            token = parse_cursor(stored.token())[0]
        seconds, reads = _budget()
        keys = partitions.get_partition_keys()
        found = look(name, source, pattern, stored, token, keys, seconds, reads)
        # Saved before Dagster saves the cursor: a tick whose cursor is lost is made again
        # from this memory, with the same run keys (see `look`).
        save_state(where, found.state)
        for line in found.unreadable:
            context.log.warning(line)
        for request in found.requests.values():
            if request.again and request.files:
                context.log.warning(
                    f"source {name}: {', '.join(request.files)} still cannot be placed in a "
                    f"month; {request.month} is asked for again under the same run key (Dagster "
                    "runs it once; its run names the problem) until the files are fixed"
                )
        if warning and found.requests:
            context.log.warning(warning)
        return month_requests(context, name, found)

    return _watch


def month_requests(context: dg.SensorEvaluationContext, name: str, found: Look) -> dg.SensorResult:
    """One run per month to request; months outside the project's months wait for it."""
    for month, files in found.waiting.items():
        context.log.warning(
            f"source {name}: new or changed files hold rows for {month}, outside the months this "
            "project sends (start_month to the current month); requested once it is inside: "
            + ", ".join(files)
        )
    if found.state.pending:
        context.log.info(
            f"source {name}: months waiting to be inside start_month..current month: "
            + ", ".join(sorted(found.state.pending))
        )
    requests = [
        dg.RunRequest(
            run_key=found.run_key(name, month),
            partition_key=month,
            tags={
                SOURCE_TAG: name,
                TRIGGER_TAG: "settings changed" if found.settings_changed else "files changed",
            },
        )
        for month in sorted(found.requests)
    ]
    fresh = [r for r in found.requests.values() if not r.again]
    progress = (
        f"read {found.read:,} of {counted(found.to_read, 'new or changed file')}; continuing "
        "next tick"
        if found.unfinished
        else ""
    )
    context.log.info(
        f"source {name}: {counted(found.listed, 'file')} listed, "
        f"{counted(len(fresh), 'month')} changed, {counted(len(requests), 'run')} requested"
        + (f"; {progress}" if progress else "")
    )
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=found.state.token())
    reason = f"no new or changed files for {name} in the project's months"
    if found.waiting:
        reason += (
            "; months outside start_month..current month, requested once inside: "
            + ", ".join(found.waiting)
        )
    if progress:
        reason += f"; {progress}"
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=found.state.token())


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
        months = sorted(set(digests) & set(partitions.get_partition_keys()))
        last_raw = {}
        for month in months:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
            ).records
            event = records[0].asset_materialization if records else None
            seen = event.metadata.get(CONTENT_DIGEST) if event else None
            last_raw[month] = None if seen is None else str(seen.value)
        found = restated_requests(name, {m: digests[m] for m in months}, last_raw, context.cursor)
        requests = [
            dg.RunRequest(
                run_key=run_key,
                partition_key=month,
                tags={SOURCE_TAG: name, TRIGGER_TAG: "restated"},
            )
            for month, run_key in found.run_keys.items()
        ]
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=found.cursor)
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no month of {name} changed since its last raw run"),
            cursor=found.cursor,
        )

    return _restated
