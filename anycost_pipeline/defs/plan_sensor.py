"""plan_<connection>: the connection's plan, on a sensor. Every hour (once turned on) it judges
every month of the connection as `anycost plan` does (`connection_state.judge`: what the
sources hold now, against what CloudZero holds and what this adaptor last sent) and requests a
run for each month that is out of date, whatever made it so: a file changed, a charge moved
month, a month emptied, or CloudZero's month was changed behind the adaptor's back.

Only connections whose sources are all export files get one: judging a pulled source pulls it
(the refresh schedules do that). Each request's run key carries a sequence kept in the cursor,
so a month that goes out of date again in a state it was in before is requested again. A month
with a run of its job queued or running is left to that run.
"""

import json
import time

import dagster as dg

from anycost_pipeline.cloudzero.errors import ConnectionBusy
from anycost_pipeline.cloudzero.month_state import CLEAR, CONFLICT, HELD, SEND, UNKNOWN
from anycost_pipeline.config import AnycostConfig, FilesSource
from anycost_pipeline.connection_state import REFUSED, Journal, judge, months_of
from anycost_pipeline.defs.in_memory import sources_now
from anycost_pipeline.defs.names import (
    CLOUDZERO,
    TRIGGER_TAG,
    connection_job_name,
    plan_sensor_name,
    scoped,
)
from anycost_pipeline.defs.resources import CloudZeroResource
from anycost_pipeline.figures import counted

PLAN_INTERVAL_SECONDS = 3600
BUDGET_SECONDS = 40.0  # of a tick's judging (Dagster stops a tick at 60 s); the rest next tick
# CloudZero takes one request at a time per connection: a tick reads only while no run of this
# project sends to it, and waits this long for one to finish before trying at the next tick.
LOCK_WAIT_SECONDS = 10.0
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def plan_sensor(
    connection: str, project: AnycostConfig, partitions: dg.PartitionsDefinition
) -> dg.SensorDefinition | None:
    sources = project.sources_of(connection)
    if not sources or not all(isinstance(project.sources[s], FilesSource) for s in sources):
        return None
    spec = project.connections[connection]
    job = connection_job_name(connection)
    cloudzero_key = scoped(CLOUDZERO, project.scope)

    @dg.sensor(
        name=plan_sensor_name(connection),
        job_name=job,
        minimum_interval_seconds=PLAN_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={cloudzero_key},
        description=(
            f"Every hour, judges every month of connection `{connection}` as `anycost plan` "
            "does, against what CloudZero holds now, and sends each month that is out of date "
            "(a month to send or to clear). Conflicts and months that cannot be judged are "
            "logged, not sent."
        ),
    )
    # `**_`: calling the sensor directly (a test's `sensor(context)`) passes its resources as
    # keyword arguments, the daemon does not; it reads its resource from the context either way.
    def _plan(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        cloudzero: CloudZeroResource = getattr(context.resources, cloudzero_key)
        cursor = json.loads(context.cursor) if context.cursor else {}
        sequence, resume = int(cursor.get("sequence", 0)), cursor.get("resume")
        cid = spec.resolve_id(connection, sandbox=cloudzero.is_sandbox)
        keys = set(partitions.get_partition_keys())
        busy = {
            run.tags.get("dagster/partition")
            for run in context.instance.get_runs(
                filters=dg.RunsFilter(job_name=job, statuses=IN_FLIGHT)
            )
        }
        journal = Journal(cloudzero.ledger(), cloudzero.destination(), cid)
        requests, started, judged = [], time.monotonic(), 0
        try:
            reading = cloudzero.reading(cid, wait_seconds=LOCK_WAIT_SECONDS)
            with reading, cloudzero.open_client() as client:
                months, _ = months_of(project, connection, client, [])
                todo = [m for m in months if resume is None or m >= resume]
                now = sources_now(project, connection)
                for month in todo:
                    if time.monotonic() - started > BUDGET_SECONDS:
                        resume = month
                        break
                    judged += 1
                    state = judge(month, spec.operation, now, client, journal)
                    if state.verdict in (CONFLICT, HELD, UNKNOWN, REFUSED):
                        context.log.warning(f"{month}: {state.verdict}: {state.reason}")
                    if state.verdict not in (SEND, CLEAR) or month not in keys or month in busy:
                        continue
                    sequence += 1
                    requests.append(
                        dg.RunRequest(
                            run_key=f"plan:{connection}:{month}:{sequence}",
                            partition_key=month,
                            tags={TRIGGER_TAG: f"plan: {state.verdict}"},
                        )
                    )
                else:
                    resume = None
        except ConnectionBusy:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(
                    f"connection {connection} is in use by a run or command; judged again at the next tick"
                ),
                cursor=context.cursor,
            )
        said = f"judged {counted(judged, 'month')} of {len(todo)}" + (
            f"; the rest from {resume} at the next tick" if resume else ""
        )
        context.log.info(
            f"connection {connection}: {said}, {counted(len(requests), 'run')} requested"
        )
        next_cursor = json.dumps({"sequence": sequence, "resume": resume})
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=next_cursor)
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no month of {connection} out of date ({said})"),
            cursor=next_cursor,
        )

    return _plan
