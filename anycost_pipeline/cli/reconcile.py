"""`anycost reconcile`: does CloudZero still hold what was last sent? Recorded in the run history."""

from anycost_pipeline.cli.common import (
    definitions,
    progress,
    require_connection,
    require_partition_months,
    say,
    where,
)
from anycost_pipeline.cli.home import dagster_home
from anycost_pipeline.config import load_config
from anycost_pipeline.defs.names import RECONCILE_MONTH, reconcile_op
from anycost_pipeline.defs.results import QUIET, failure_messages
from anycost_pipeline.months import Month


def reconcile(months: list[str], connections: list[str], contents: bool) -> int:
    """Run the `matches_cloudzero` check for each month; exit 1 when any month differs."""
    import dagster as dg

    config = load_config()
    for name in connections:
        require_connection(config, name)
    require_partition_months(config, [str(Month.parse(m)) for m in months])
    dagster_home(config.base_dir)
    chosen = connections or list(config.connections)
    job = definitions(config).resolve_job_def(RECONCILE_MONTH)
    ops = {reconcile_op(c): {"config": {"compare_contents": contents}} for c in chosen}
    differing = 0
    with dg.DagsterInstance.get() as instance:
        for number, month in enumerate(str(Month.parse(m)) for m in months):
            progress(f"[{number + 1}/{len(months)}] asking {where(config)} about {month}")
            result = job.execute_in_process(
                instance=instance,
                tags={"dagster/partition": month},
                raise_on_error=False,
                run_config={**QUIET, "ops": ops},
                op_selection=list(ops),
            )
            for message in failure_messages(result):
                say(f"{month}: could not reconcile: {message}")
                differing += 1
            for evaluation in result.get_asset_check_evaluations():
                connection = evaluation.asset_key.path[-1]
                verdict = evaluation.description or ""
                say(f"{'OK  ' if evaluation.passed else 'DIFF'} {connection:24} {verdict}")
                differing += 0 if evaluation.passed else 1
    return 1 if differing else 0
