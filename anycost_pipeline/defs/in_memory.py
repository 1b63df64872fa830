"""A month of a connection's sources as a submission would send it, computed in memory by the
project's own raw and cbf assets: nothing is stored, nothing is sent. `anycost plan`,
`dry-run`, `preview` and the plan sensor use it."""

from collections.abc import Callable
from functools import partial

import dagster as dg
import polars as pl

from anycost_pipeline.cloudzero.month_state import Now
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.connection_state import SourcesRefused
from anycost_pipeline.defs.changes import last_converted, last_submitted
from anycost_pipeline.defs.names import (
    CBF,
    CBF_OUTPUT,
    FRAMES_IO_MANAGER,
    cbf_key,
    cbf_op,
    check_label,
    raw_key,
    scoped,
)
from anycost_pipeline.defs.results import QUIET, failure_messages
from anycost_pipeline.delivery import MonthRefused, MonthToSend, month_to_send


class MonthNotConverted(ValueError):
    """A source's month could not be read or converted; the message names the failing step."""


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
    if not sources:  # a connection whose sources all moved away
        return {}, {}, {}
    from anycost_pipeline.defs.build import build_definitions  # which builds the plan sensor

    # The assets as built, before the definitions bind their resources: the frames stay in
    # memory here instead of the project's storage.
    wanted = {dg.AssetKey(key(s)) for s in sources for key in (raw_key, cbf_key)}
    assets = [a for a in build_definitions(project).assets or [] if set(a.keys) & wanted]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            assets,
            partition_key=month,
            instance=instance,
            resources={scoped(FRAMES_IO_MANAGER, project.scope): dg.InMemoryIOManager()},
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
            raise MonthNotConverted(
                f"{month} cannot be converted: " + " | ".join(failures)
                if failures
                else f"{month} produced no CBF frame; run `anycost run {month}` to see the failing step."
            )
        frames = {s: result.output_for_node(cbf_op(s), CBF_OUTPUT) for s in sources}
    return frames, checks, explained


def month_from_sources(config: AnycostConfig, connection: str, month: str) -> MonthToSend:
    """The connection's month as its drop would send it, its sources read and converted in
    memory (nothing stored, nothing sent); MonthNotConverted or MonthRefused when it cannot."""
    sources = sorted(config.sources_of(connection))
    frames, _ = source_cbf(config, sources, month)
    return month_to_send(
        config,
        connection,
        {s: frames[s] for s in sources},
        month,
        sent_to=partial(last_submitted, config, month=month),
        converted=partial(last_converted, config, month=month),
    )


def sources_now(
    config: AnycostConfig, connection: str, announce: Callable[[str], None] | None = None
) -> Callable[[str], Now]:
    """What the connection's sources hold for a month, as a submission would send it;
    SourcesRefused when it cannot be sent as it stands."""

    def now(month: str) -> Now:
        if announce is not None:
            announce(f"{connection}: reading sources and converting {month} to CBF")
        try:
            sending = month_from_sources(config, connection, month)
        except (MonthNotConverted, MonthRefused) as refusal:
            raise SourcesRefused(str(refusal)) from None
        return Now(
            sending.cbf.height,
            sending.total,
            sending.content_hash,
            sending.evidence,
            settled=sending.settled,
        )

    return now
