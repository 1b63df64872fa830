"""Waiting on runs that a real `dagster-daemon` launches, for the daemon-backed tests."""

import time

import dagster as dg

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def wait_for_runs(
    instance: dg.DagsterInstance, count: int, seconds: float
) -> tuple[list[dg.DagsterRun], int]:
    """The instance's runs once `count` of them have finished (or after `seconds`, a safety net
    only), and the most that were in flight at once while waiting."""
    deadline = time.monotonic() + seconds
    most_in_flight = 0
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        most_in_flight = max(
            most_in_flight, sum(r.status == dg.DagsterRunStatus.STARTED for r in runs)
        )
        if len(runs) == count and all(r.status in FINISHED for r in runs):
            break
        time.sleep(0.5)
    return instance.get_runs(), most_in_flight


def run_failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    """What each run that did not succeed said when it failed, by month."""
    return [
        f"{r.tags.get('dagster/partition')}: {e.message} "
        f"{getattr(e.dagster_event.event_specific_data, 'error', '')}"
        for r in runs
        if r.status != dg.DagsterRunStatus.SUCCESS
        for e in instance.all_logs(r.run_id)
        if e.is_dagster_event and e.dagster_event.is_failure
    ]
