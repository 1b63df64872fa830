"""What the commands share: the project's definitions, a month's CBF frames, the CloudZero target."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from anycost_pipeline.cloudzero.client import DEFAULT_API_URL, AnyCostClient
from anycost_pipeline.config import AnycostConfig, config_path
from anycost_pipeline.defs.names import (
    CBF,
    CBF_OUTPUT,
    DELIVERY,
    DROP,
    FRAMES_IO_MANAGER,
    STATUS,
    cbf_key,
    cbf_op,
    check_label,
    drop_op,
    raw_key,
    step_label,
)
from anycost_pipeline.months import Month

# The step-by-step log stays in the run history; the console gets the summary (failures are
# printed by the commands themselves, in one sentence, without Dagster's stack traces).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class CliError(Exception):
    """A problem the user can fix; its message says what happened and what to do."""


def say(text: str = "") -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    """A step that may take a while, on stderr so stdout stays a clean report."""
    print(f"… {text}", file=sys.stderr, flush=True)


def definitions(project: AnycostConfig):  # -> dg.Definitions; imported lazily: `--help` stays fast
    """The project's definitions, built as the Dagster code location builds them."""
    from anycost_pipeline.defs.build import build_definitions

    return build_definitions(project)


def require_connection(config: AnycostConfig, connection: str) -> None:
    if connection not in config.connections:
        raise CliError(
            f"{connection!r} is not a connection in {config_path()}; use one of: "
            f"{', '.join(config.connections)}."
        )


def require_source(config: AnycostConfig, source: str) -> None:
    if source not in config.sources:
        raise CliError(
            f"{source!r} is not a source in {config_path()}; use one of: {', '.join(config.sources)}."
        )


# Dagster wraps what failed in a step ("Error occurred while …"); its cause names the problem.
WRAPPERS = {
    "DagsterExecutionHandleOutputError": "storing the step's frame failed: ",
    "DagsterExecutionLoadInputError": "reading the frame of an earlier step failed: ",
    "DagsterExecutionStepExecutionError": "",
    "DagsterResourceFunctionError": "setting up a resource failed: ",
}


def error_text(error) -> str:  # type: ignore[no-untyped-def]  # SerializableErrorInfo
    """What failed, in one line: the innermost cause of Dagster's wrapper errors, with what
    the step was doing when it failed."""
    doing = ""
    while error.cause is not None and error.cls_name in WRAPPERS:
        doing += WRAPPERS[error.cls_name]
        error = error.cause
    return doing + " ".join(error.message.split())


def failure_messages(result) -> list[str]:  # type: ignore[no-untyped-def]
    """The step failures of an in-process run, as the user-facing messages."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            text = (
                data.user_failure_data.description if data.user_failure_data else None
            ) or error_text(data.error)
            messages.append(f"{step_label(event.step_key)}: {text.strip()}")
    return messages


def require_partition_months(config: AnycostConfig, months: list[str]) -> None:
    """Refuse, in one sentence, months outside the project's partitions (start_month in
    anycost.yaml up to the current UTC month), before any run is recorded for them."""
    last = str(Month.current())
    outside = [m for m in months if not config.start_month <= m <= last]
    if outside:
        raise CliError(
            f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} outside the months this "
            f"project holds, {config.start_month} (start_month in {config_path()}) to {last} "
            "(this month, UTC); nothing was read or sent. Change start_month to reach earlier "
            "months."
        )


def deliveries(result, connections: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Connection → what CloudZero holds of the run's month afterwards: the drop's status when
    it was materialised (`sent`, `unchanged`), what its failure said when it failed (`nothing
    sent`, `partly sent`, ...; "unknown" when it did not say), else `nothing sent` (it never ran).
    Only the drop steps count: a check after a drop sends nothing."""
    from anycost_pipeline.cloudzero.submit import NOTHING_SENT

    steps = {drop_op(c): c for c in connections}
    states = dict.fromkeys(connections, NOTHING_SENT)
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is not None and event.step_key in steps:
            metadata = data.user_failure_data.metadata if data.user_failure_data else {}
            value = metadata.get(DELIVERY)
            states[steps[event.step_key]] = str(value.value) if value is not None else "unknown"
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key.path
        status = event.materialization.metadata.get(STATUS)
        if key[0] == DROP and key[-1] in states and status is not None:
            states[key[-1]] = str(status.value)
    for connection, state in states.items():
        if state == "unknown":
            states[connection] = journal_state(result.run_id, connection) or state
    return states


def journal_state(run_id: str, connection: str) -> str | None:
    """What the journal says this run's submission of its month did, when the drop step
    failed after sending (storing its frame, say): `sent` or `cleared` once CloudZero
    confirmed it (None: the journal holds no confirmed submission of this run)."""
    import dagster as dg

    from anycost_pipeline.cloudzero.journal import CLEARED, CONFIRMED
    from anycost_pipeline.cloudzero.submit import CLEARED_STATUS, SENT
    from anycost_pipeline.config import load_config
    from anycost_pipeline.defs.resources import cloudzero_resource

    config = load_config()
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    month = run.tags.get("dagster/partition") if run else None
    if month is None:
        return None
    resource = cloudzero_resource(config).process_config_and_initialize()
    try:
        record = resource.ledger().entry(
            resource.destination(), connection_id(config, connection), month
        )
    except Exception:  # noqa: BLE001 - an unreadable record tells nothing; the state stays unknown
        return None
    if record is None or not str(record.data.get("submission_id", "")).startswith(run_id):
        return None
    return {CONFIRMED: SENT, CLEARED: CLEARED_STATUS}.get(record.state)


def source_cbf(
    project: AnycostConfig, sources: list[str], month: str
) -> tuple[dict[str, pl.DataFrame], dict[str, bool]]:
    """Each source's CBF frame for the month, computed by the project's own raw and cbf assets.

    Runs in process with frames kept in memory: nothing is stored, nothing is sent. Returns the
    frames and the result of every check on them (check name → passed); a failing blocking
    check still returns the frame, so it can be looked at.
    """
    frames, checks, _ = source_cbf_with_problems(project, sources, month)
    return frames, checks


def source_cbf_with_problems(
    project: AnycostConfig, sources: list[str], month: str
) -> tuple[dict[str, pl.DataFrame], dict[str, bool], dict[str, str]]:
    """As `source_cbf`, plus each failed check's explanation (its markdown metadata)."""
    import dagster as dg

    # The assets as built, before the definitions bind their resources: the frames stay in
    # memory here instead of the project's storage.
    wanted = {dg.AssetKey(key(s)) for s in sources for key in (raw_key, cbf_key)}
    assets = [a for a in definitions(project).assets or [] if set(a.keys) & wanted]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            assets,
            partition_key=month,
            instance=instance,
            resources={FRAMES_IO_MANAGER: dg.InMemoryIOManager()},
            run_config=QUIET,
            raise_on_error=False,
        )
        evaluations = result.get_asset_check_evaluations()
        checks = {check_label(e.asset_key.path, e.check_name): e.passed for e in evaluations}
        explained = {
            check_label(e.asset_key.path, e.check_name): "\n".join(
                f"{key}: {value.value}" for key, value in e.metadata.items()
            )
            for e in evaluations
            if not e.passed
        }
        produced = {
            e.materialization.asset_key.path[-1]
            for e in result.get_asset_materialization_events()
            if e.materialization.asset_key.path[0] == CBF
        }
        # A blocking check that fails also fails its step, after the frame was produced.
        failures = [m for m in failure_messages(result) if "blocking asset check" not in m]
        if failures or set(sources) - produced:
            raise CliError(
                f"{month} cannot be converted: " + " | ".join(failures)
                if failures
                else f"{month} produced no CBF frame; run `anycost run {month}` to see the failing step."
            )
        frames = {s: result.output_for_node(cbf_op(s), CBF_OUTPUT) for s in sources}
    return frames, checks, explained


def connection_id(config: AnycostConfig, connection: str) -> str:
    return config.connections[connection].resolve_id(
        connection, sandbox=config.cloudzero.target == "sandbox"
    )


@contextmanager
def open_client(config: AnycostConfig, connection_id: str | None = None) -> Iterator[AnyCostClient]:
    """A client for the configured target, from the same resource the definitions use; given a
    connection id, it holds that connection's lock (one request at a time per connection)."""
    from anycost_pipeline.defs.resources import cloudzero_resource

    if config.cloudzero.target == "live" and not os.environ.get("CLOUDZERO_API_KEY", "").strip():
        raise CliError(
            "CLOUDZERO_API_KEY is not set; export your CloudZero API key (see the README's "
            "'Going live'), or set cloudzero.target: sandbox to try things locally."
        )
    resource = cloudzero_resource(config).process_config_and_initialize()
    if connection_id is None:
        with resource.open_client() as client:
            yield client
    else:
        with resource.connection_client(connection_id) as client:
            yield client


def where(config: AnycostConfig) -> str:
    if config.cloudzero.target == "live":
        return f"CloudZero ({os.environ.get('CLOUDZERO_API_URL') or DEFAULT_API_URL})"
    return f"the local sandbox ({config.storage_path / 'sandbox'})"
