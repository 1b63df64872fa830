"""Every real change is requested, through the daemon's own ticks: run keys that Dagster has
seen before are skipped by Dagster for the sensor's whole life, so a change that brings a file
back to an earlier state must still get a new run key, and months the project cannot send yet
are remembered until it can."""

import os
import shutil
from datetime import datetime, timedelta, timezone

import dagster as dg
from dagster._core.test_utils import freeze_time

from anycost_pipeline.defs.names import CONTENT_DIGEST, raw_key
from anycost_pipeline.sources.restated import save_digests
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.defs.daemon_ticks import daemon

SENSOR = "watch_simple_cloud"


def _one_row_export(project: Project, day: str, amount: str = "20.00") -> None:
    (project.data_dir / f"simple_cloud_{day}.csv").write_text(
        f"date,service,account,charge_type,amount\n{day},Compute,prod-001,usage,{amount}\n"
    )


def test_a_file_deleted_again_requests_its_month_again(project: Project, tmp_path) -> None:
    july = project.data_dir / "simple_cloud_2024-07-03.csv"
    kept = tmp_path / july.name
    shutil.copy2(july, kept)
    with daemon() as d:
        assert d.tick(SENSOR).created == ["2024-07", "2024-08"]
        july.unlink()
        assert d.tick(SENSOR).created == ["2024-07"]
        shutil.copy2(kept, july)  # restored
        assert d.tick(SENSOR).created == ["2024-07"]
        july.unlink()  # deleted again: CloudZero holds the restored file's rows until July runs
        assert d.tick(SENSOR).created == ["2024-07"]
        assert d.tick(SENSOR).created == []  # nothing changed since


def test_a_fix_reverted_and_applied_again_is_sent_each_time(project: Project) -> None:
    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    original = day.read_text()
    stat = day.stat()

    def write(text: str) -> None:  # as a restore from a backup does: content and mtime
        day.write_text(text)
        os.utime(day, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    with daemon() as d:
        d.tick(SENSOR)
        write(original.replace("12.00", "13.00", 1))  # the fix
        assert d.tick(SENSOR).created == ["2024-08"]
        write(original)  # reverted
        assert d.tick(SENSOR).created == ["2024-08"]
        write(original.replace("12.00", "13.00", 1))  # applied again
        third = d.tick(SENSOR)
        assert third.created == ["2024-08"], third.skip_reason


def test_an_unchanged_file_with_a_bad_time_is_not_run_again(project: Project) -> None:
    with daemon() as d:
        d.tick(SENSOR)
        _one_row_export(project, "2024-08-32")
        newest = d.tick(SENSOR).created
        assert len(newest) == 1
        again = d.tick(SENSOR)
        assert again.created == [] and again.run_keys  # asked again, same key: Dagster skips it


def test_a_month_before_a_lowered_start_month_is_requested_once_it_is_inside(
    project: Project,
) -> None:
    with daemon() as d:
        d.tick(SENSOR)
        _one_row_export(project, "2023-12-31")
        assert d.tick(SENSOR).created == []  # before start_month 2024-01: not sendable yet
        config = project.config()
        config["start_month"] = "2023-06"
        project.write_config(config)
        d.reload()
        assert d.tick(SENSOR).created == ["2023-12"]
        assert d.tick(SENSOR).created == []


def test_a_month_after_the_current_month_is_requested_when_it_begins(project: Project) -> None:
    now = datetime.now(timezone.utc)
    following = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    _one_row_export(project, f"{following:%Y-%m}-02")
    with daemon() as d:
        first = d.tick(SENSOR)
        assert f"{following:%Y-%m}" not in first.created
        assert d.tick(SENSOR).created == []
        with freeze_time(following + timedelta(hours=1)):
            assert d.tick(SENSOR).created == [f"{following:%Y-%m}"]
            assert d.tick(SENSOR).created == []


def test_a_settings_change_requests_every_month_the_files_hold(project: Project) -> None:
    with daemon() as d:
        d.tick(SENSOR)
        assert d.tick(SENSOR).created == []
        config = project.config()
        config["sources"]["simple_cloud"]["timezone"] = "Asia/Tokyo"  # moves rows to June
        project.write_config(config)
        d.reload()
        assert d.tick(SENSOR).created == ["2024-06", "2024-07", "2024-08"]
        assert d.tick(SENSOR).created == []


def _incremental(project: Project) -> None:
    config = project.config()
    config["sources"]["simple_cloud"].update(incremental=True, key=["date", "service", "account"])
    project.write_config(config)


def _raw_run(instance: dg.DagsterInstance, month: str, digest: str) -> None:
    """What a raw run of the month records: its content digest."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=raw_key("simple_cloud"),
            partition=month,
            metadata={CONTENT_DIGEST: digest},
        )
    )


def test_a_record_moved_back_and_forth_is_requested_at_every_move(project: Project) -> None:
    _incremental(project)
    sensor, state = "restated_simple_cloud", project.storage
    stated = {"2024-08": "a0", "2024-09": "b0"}
    moved = {"2024-08": "a1", "2024-09": "b1"}  # record 42 re-dated from August to September
    with daemon() as d:
        with freeze_time(datetime(2024, 9, 20, tzinfo=timezone.utc)):
            for month, digest in stated.items():
                _raw_run(d.instance, month, digest)  # the schedule's runs
            save_digests(state, "simple_cloud", stated)
            assert d.tick(sensor).created == []
            for n, digests in enumerate([moved, stated, moved]):
                save_digests(state, "simple_cloud", digests)
                tick = d.tick(sensor)
                assert tick.created == ["2024-08", "2024-09"], (n, tick.skip_reason)
                assert d.tick(sensor).created == []  # the runs are not done yet: not again
                for month, digest in digests.items():
                    _raw_run(d.instance, month, digest)
                assert d.tick(sensor).created == []
