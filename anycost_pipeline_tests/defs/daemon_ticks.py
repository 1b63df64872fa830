"""Sensor ticks as the Dagster daemon runs them, in this process: the daemon's own sensor
iteration on a temporary instance, so that the cursor is saved only as the daemon saves it and a
run key already used by the sensor is skipped as Dagster skips it ("already completed"). Runs are
created, not executed (a launcher that only records them); the tests report what a run would have
materialised themselves when they need it.
"""

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import WorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

LOCATION = "anycost_pipeline"
PARTITION_TAG = "dagster/partition"


class _Definitions(WorkspaceLoadTarget):
    def create_origins(self):  # type: ignore[override]
        target = LoadableTargetOrigin(module_name="anycost_pipeline.definitions")
        return [InProcessCodeLocationOrigin(target, location_name=LOCATION)]


@dataclass(frozen=True)
class Tick:
    status: TickStatus
    created: list[str]  # the months of the runs this tick created (not those Dagster skipped)
    run_keys: list[str]  # every run key the sensor asked for, skipped ones included
    skip_reason: str | None
    cursor: str | None
    error: str | None


class Daemon:
    """One instance, one workspace; `tick(sensor)` evaluates it as one daemon iteration."""

    def __init__(self, instance: dg.DagsterInstance, stack: ExitStack) -> None:
        self.instance, self._stack = instance, stack
        self._workspace = ExitStack()
        self._context = self._load()

    def _load(self):
        self._stack.callback(self._workspace.close)
        return self._workspace.enter_context(
            create_test_daemon_workspace_context(_Definitions(), self.instance)
        )

    def _sensor(self, name: str):
        entry = self._context.create_request_context().get_code_location_entries()[LOCATION]
        assert entry.code_location, entry.load_error
        return next(iter(entry.code_location.get_repositories().values())).get_sensor(name)

    def reload(self) -> None:
        """Load the definitions again (after a change of anycost.yaml), as a code reload does:
        the same instance, a new workspace (an in-process location cannot be reloaded)."""
        self._workspace.close()
        self._workspace = ExitStack()
        self._context = self._load()

    def tick(self, name: str) -> Tick:
        sensor = self._sensor(name)
        origin, selector = sensor.get_remote_origin_id(), sensor.selector_id
        state = self.instance.get_instigator_state(origin, selector)
        if state is None or not state.is_running:
            self.instance.start_sensor(sensor)
            state = self.instance.get_instigator_state(origin, selector)
        elif state.instigator_data is not None:
            # The daemon waits minimum_interval_seconds between ticks: the test does not.
            data = state.instigator_data._replace(  # type: ignore[union-attr]
                last_tick_timestamp=0.0, last_tick_start_timestamp=0.0
            )
            self.instance.update_instigator_state(state.with_data(data))
        before = {r.run_id for r in self.instance.get_runs()}
        list(execute_sensor_iteration(self._context, logging.getLogger("daemon"), None, None))
        tick = self.instance.get_ticks(origin, selector, limit=1)[0]
        runs = [r for r in self.instance.get_runs() if r.run_id not in before]
        state = self.instance.get_instigator_state(origin, selector)
        return Tick(
            status=tick.status,
            created=sorted(r.tags[PARTITION_TAG] for r in runs),
            run_keys=list(tick.run_keys),
            skip_reason=tick.skip_reason,
            cursor=state.instigator_data.cursor if state and state.instigator_data else None,  # type: ignore[union-attr]
            error=tick.error.to_string() if tick.error else None,
        )


@contextmanager
def daemon() -> Iterator[Daemon]:
    """A temporary instance whose launcher records runs without executing them."""
    with ExitStack() as stack:
        instance = stack.enter_context(
            instance_for_test(
                overrides={
                    "run_launcher": {
                        "module": "dagster._core.test_utils",
                        "class": "MockedRunLauncher",
                    }
                }
            )
        )
        yield Daemon(instance, stack)
