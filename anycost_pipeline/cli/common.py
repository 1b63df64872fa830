"""What the commands share: the project's definitions, a month's CBF frames, the CloudZero target."""

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from anycost_pipeline.cloudzero.client import DEFAULT_API_URL, AnyCostClient, api_base_url
from anycost_pipeline.cloudzero.errors import ConnectionBusy
from anycost_pipeline.config import AnycostConfig, config_path
from anycost_pipeline.connection_state import connection_id
from anycost_pipeline.defs.names import (
    DELIVERY,
    DROP,
    STATUS,
    drop_op,
)
from anycost_pipeline.months import Month


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


def run_record_state(run_id: str, connection: str) -> str | None:
    """The state of the journal's record of the month when it is this run's own submission
    (None: the run started none, or the record cannot be read)."""
    import dagster as dg

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
    return record.state


def journal_state(run_id: str, connection: str) -> str | None:
    """`sent` or `cleared` when CloudZero confirmed this run's own submission of its month, as
    after a drop step that failed once it had sent (storing its frame, say); else None."""
    return _confirmed_word(run_record_state(run_id, connection))


def submission_state(run_id: str, connection: str) -> str | None:
    """What the journal says of a run's own submission of its month: `sent`/`cleared` when
    confirmed, `unknown` when it started and was not confirmed (None: the run started none)."""
    state = run_record_state(run_id, connection)
    return None if state is None else _confirmed_word(state) or "unknown"


def _confirmed_word(state: str | None) -> str | None:
    from anycost_pipeline.cloudzero.journal import CLEARED, CONFIRMED
    from anycost_pipeline.cloudzero.submit import CLEARED_STATUS, SENT

    return {CONFIRMED: SENT, CLEARED: CLEARED_STATUS}.get(state or "")


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


@contextmanager
def connection_reads(config: AnycostConfig, connection: str) -> Iterator[None]:
    """Hold the connection's lock while reading what CloudZero holds of it with a client from
    `open_client(config)`: a run may be sending to it meanwhile, and CloudZero takes one request
    at a time per connection. Says so, then waits, while a run sends."""
    from anycost_pipeline.defs.resources import cloudzero_resource

    resource = cloudzero_resource(config).process_config_and_initialize()
    cid = connection_id(config, connection)
    with ExitStack() as held:
        try:
            held.enter_context(resource.reading(cid, wait_seconds=0.0))
        except ConnectionBusy:
            progress(
                f"{connection}: another run or command is using {cid}; reading what CloudZero holds "
                "once it has finished (CloudZero takes one request at a time per connection)"
            )
            held.enter_context(resource.reading(cid))
        yield


def where(config: AnycostConfig) -> str:
    if config.cloudzero.target == "live":
        return f"CloudZero ({api_base_url(os.environ.get('CLOUDZERO_API_URL') or DEFAULT_API_URL)})"
    return f"the local sandbox ({config.storage_path / 'sandbox'})"
