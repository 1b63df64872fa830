"""plan_<connection>: the connection's plan on a sensor, which requests every month that is out
of date (to send or to clear), and asks again when a month returns to a state it was in."""

import dagster as dg
import pytest

from anycost_pipeline.cloudzero.locks import connection_lock
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.cloudzero.sandbox.server import REQUESTS
from anycost_pipeline.defs import plan_sensor
from anycost_pipeline_tests.conftest import Project

SENSOR = "plan_simple_cloud_main"
CONNECTION = "simple_cloud_main"


def tick(project: Project, cursor: str | None) -> dg.SensorResult:
    defs = project.definitions()
    sensor = defs.resolve_sensor_def(SENSOR)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            cursor=cursor, instance=instance, resources={"cloudzero": defs.resources["cloudzero"]}
        )
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def requested(result: dg.SensorResult) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests or []}  # type: ignore[misc]


def test_the_plan_sensor_requests_out_of_date_months_and_asks_again(project: Project) -> None:
    assert project.definitions().resolve_sensor_def(SENSOR).default_status == (
        dg.DefaultSensorStatus.STOPPED
    )
    for month in ("2024-07", "2024-08"):
        assert project.materialize_month(month).success
    settled = tick(project, None)
    assert requested(settled) == {}
    assert "no month of simple_cloud_main out of date" in settled.skip_reason.skip_message  # type: ignore[union-attr]

    # A day's export re-dated from July into August: July must lose it, August gain it.
    day = project.data_dir / "simple_cloud_2024-07-03.csv"
    original = day.read_text()
    day.write_text(original.replace("2024-07-03", "2024-08-03"))
    moved = tick(project, settled.cursor)
    assert sorted(requested(moved)) == ["2024-07", "2024-08"]
    for month in ("2024-07", "2024-08"):
        assert project.materialize_month(month).success
    again = tick(project, moved.cursor)
    assert requested(again) == {}

    # Back as it was: the same months, in a state they were in before, are asked for again.
    day.write_text(original)
    back = tick(project, again.cursor)
    assert sorted(requested(back)) == ["2024-07", "2024-08"]
    assert not set(requested(back).values()) & set(requested(moved).values())
    for month in ("2024-07", "2024-08"):
        assert project.materialize_month(month).success
    store = SandboxStore(project.storage / "sandbox")
    assert len(store.month_rows(CONNECTION, "2024-08")) == 250
    assert requested(tick(project, back.cursor)) == {}


def test_a_month_emptied_in_cloudzero_behind_the_adaptor_is_requested(project: Project) -> None:
    from anycost_pipeline.cli import main

    for month in ("2024-07", "2024-08"):
        assert project.materialize_month(month).success
    assert requested(tick(project, None)) == {}
    assert main(["delete-month", CONNECTION, "2024-08", "--yes-delete-month"]) == 0
    # delete-month records the month as emptied: the plan sends it whole again.
    assert sorted(requested(tick(project, None))) == ["2024-08"]


def test_a_tick_reads_nothing_while_a_run_sends_to_the_connection(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudZero takes one request at a time per connection: while a drop of another process
    holds the connection's lock, a tick leaves CloudZero alone and judges at the next tick."""
    monkeypatch.setattr(plan_sensor, "LOCK_WAIT_SECONDS", 0.5)
    assert project.materialize_month("2024-08").success
    resource = project.definitions().resources["cloudzero"]
    store = SandboxStore(project.storage / "sandbox")
    before = store.counter(REQUESTS)
    with connection_lock(resource.lock_folder, CONNECTION):  # a drop sending, as it holds it
        waited = tick(project, None)
    assert requested(waited) == {} and waited.cursor is None
    assert "is in use by a run or command; judged again at the next tick" in (
        waited.skip_reason.skip_message  # type: ignore[union-attr]
    )
    assert store.counter(REQUESTS) == before  # nothing was asked of CloudZero
    tick(project, None)  # the lock given back: the next tick reads CloudZero again
    assert store.counter(REQUESTS) > before
