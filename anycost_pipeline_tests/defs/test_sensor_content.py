"""The sensor notices every change of content, and keeps requesting files it cannot place."""

import json
import os

import dagster as dg

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

SENSOR = "watch_simple_cloud"
JOB = "send_simple_cloud_main"


def tick(project: Project, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = project.definitions().resolve_sensor_def(SENSOR)
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def requested(result: dg.SensorResult) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests or []}  # type: ignore[misc]


def test_an_edit_that_keeps_size_and_modification_time_is_sent(project: Project) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = tick(project, instance, None)
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    before = day.stat()
    text = day.read_text()
    assert "12.00" in text
    day.write_text(text.replace("12.00", "99.00", 1))  # same size
    os.utime(day, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert day.stat().st_size == before.st_size and day.stat().st_mtime_ns == before.st_mtime_ns

    changed = tick(project, instance, first.cursor)
    assert list(requested(changed)) == ["2024-08"]
    assert requested(changed)["2024-08"] != requested(first)["2024-08"]
    result = (
        project.definitions()
        .resolve_job_def(JOB)
        .execute_in_process(partition_key="2024-08", instance=instance)
    )
    assert result.success
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert any(r["cost/cost"].startswith("99.00") for r in rows)
    # Nothing else changed: the next look requests nothing.
    assert requested(tick(project, instance, changed.cursor)) == {}


def test_a_file_with_an_unreadable_time_is_requested_until_it_is_fixed(project: Project) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["on_bad_rows"] = "reject"
    project.write_config(config)
    instance = dg.DagsterInstance.ephemeral()
    first = tick(project, instance, None)
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    lines = day.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("2024-08-16", "2024-08-32")
    day.write_text("".join(lines))

    bad = tick(project, instance, first.cursor)
    assert list(requested(bad)) == ["2024-08"]  # its readable rows' month
    again = tick(project, instance, bad.cursor)
    assert requested(again) == requested(bad)  # the same run key: Dagster starts it once

    # A strict source fails that run naming the file, the row, the column and the value.
    config["sources"]["simple_cloud"]["on_bad_rows"] = "strict"
    project.write_config(config)
    result = (
        project.definitions()
        .resolve_job_def(JOB)
        .execute_in_process(partition_key="2024-08", instance=instance, raise_on_error=False)
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error.message)  # type: ignore[union-attr]
    assert "simple_cloud_2024-08-16.csv" in message and "2024-08-32" in message
    assert "date" in message and "row 3" in message.replace(",", "")
    # A change of the source's settings requests every month its files hold.
    strict = tick(project, instance, again.cursor)
    assert list(requested(strict)) == ["2024-07", "2024-08"]
    assert requested(tick(project, instance, strict.cursor)) == {
        "2024-08": requested(strict)["2024-08"]
    }

    day.write_text("".join(lines).replace("2024-08-32", "2024-08-16"))
    fixed = tick(project, instance, strict.cursor)
    assert list(requested(fixed)) == ["2024-08"]
    assert requested(fixed)["2024-08"] not in (
        requested(bad)["2024-08"],
        requested(strict)["2024-08"],
    )
    assert requested(tick(project, instance, fixed.cursor)) == {}


def test_a_file_with_no_readable_time_requests_the_newest_month(project: Project) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = tick(project, instance, None)
    (project.data_dir / "simple_cloud_bad.csv").write_text(
        "date,service,account,charge_type,amount\n2024-08-32,Compute,prod-001,usage,1.00\n"
    )
    newest = project.definitions().resolve_job_def(JOB).partitions_def.get_partition_keys()[-1]  # type: ignore[union-attr]
    bad = tick(project, instance, first.cursor)
    assert list(requested(bad)) == [newest]
    assert list(requested(tick(project, instance, bad.cursor))) == [newest]


def test_a_cursor_from_before_the_state_file_sends_nothing_again(project: Project) -> None:
    """An upgrade: the cursor held every file's [fingerprint, months, listing key]."""
    from anycost_pipeline.config import load_config
    from anycost_pipeline.sources.files import file_infos, fingerprint
    from anycost_pipeline.sources.watch import file_months

    source = load_config().sources["simple_cloud"]
    files = {
        info.path: [
            fingerprint(info),
            file_months("simple_cloud", source, info.path).months,  # type: ignore[arg-type]
            info.listing_key,
        ]
        for info in file_infos(str(project.data_dir / "*.csv"))
    }
    assert len(files) > 10
    instance = dg.DagsterInstance.ephemeral()
    old_cursor = json.dumps({"files": files}, sort_keys=True)
    upgraded = tick(project, instance, old_cursor)
    assert requested(upgraded) == {}
    assert len(upgraded.cursor or "") < 100
    (project.data_dir / "simple_cloud_2024-07-03.csv").unlink()
    assert list(requested(tick(project, instance, upgraded.cursor))) == ["2024-07"]
