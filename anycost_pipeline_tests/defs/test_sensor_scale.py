"""The files sensor over many objects in an object store (moto's S3 server on 127.0.0.1): each
tick reads a bounded share of the new files and ends, the cursor stays small whatever the
number of files, and the scan ends with every month requested, each once. Tick times are
printed, never asserted (`benchmarks/sensor.py` measures 10,000 objects)."""

import time

import dagster as dg
import fsspec
import pytest

from anycost_pipeline.defs.sensors import BUDGET_ENV, MAX_READS_ENV
from anycost_pipeline_tests.conftest import Project

SENSOR = "watch_simple_cloud"
BUCKET = "scale-exports"
OBJECTS, PER_TICK = 1_500, 400
CURSOR_BYTES = 200  # a token: the memory of 1,500 files took 219 KB in the cursor before


def _upload(s3: fsspec.AbstractFileSystem) -> list[str]:
    s3.mkdir(BUCKET)
    header = "date,service,account,charge_type,amount\n"
    objects = {
        f"{BUCKET}/exports/part-{n:05d}.csv": (
            header
            + f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d},Compute,prod-001,usage,1.{n % 100:02d}\n"
        ).encode()
        for n in range(OBJECTS)
    }
    names = list(objects)
    for first in range(0, len(names), 500):
        s3.pipe({n: objects[n] for n in names[first : first + 500]})
    return names


def test_many_objects_are_read_over_several_ticks_with_a_small_cursor(
    project: Project, s3: fsspec.AbstractFileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _upload(s3)
    config = project.config()
    config["sources"]["simple_cloud"]["path"] = f"s3://{BUCKET}/exports/*.csv"
    project.write_config(config)
    monkeypatch.setenv(MAX_READS_ENV, str(PER_TICK))
    # The read cap alone ends each tick: a loaded machine would hit the time budget (20 s) first
    # and need a fifth tick, which is the budget working, not what this test checks.
    monkeypatch.setenv(BUDGET_ENV, "3600")
    sensor = project.definitions().resolve_sensor_def(SENSOR)
    instance = dg.DagsterInstance.ephemeral()

    cursor, requested, reasons = None, [], []
    for n in range(1, 10):
        started = time.perf_counter()
        result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        print(f"tick {n}: {time.perf_counter() - started:.1f} s, cursor {len(result.cursor)} bytes")
        assert isinstance(result, dg.SensorResult) and result.cursor is not None
        assert len(result.cursor) < CURSOR_BYTES
        cursor = result.cursor
        requested += [r.partition_key for r in result.run_requests or []]
        reason = result.skip_reason.skip_message if result.skip_reason else ""
        reasons.append(reason or "")
        if "continuing next tick" not in reasons[-1] and not result.run_requests:
            break
    # 1,500 new files at 400 a tick: four ticks read them; the last says nothing is left.
    assert len(reasons) == 4
    assert "read 400 of 1,100 new or changed files; continuing next tick" in reasons[1]
    assert "read 400 of 700 new or changed files; continuing next tick" in reasons[2]
    assert reasons[3] == "no new or changed files for simple_cloud in the project's months"
    # Every month once: the first tick's runs read the month's files that later ticks read.
    assert sorted(requested) == [f"2024-{m:02d}" for m in range(1, 13)]

    s3.pipe(names[7], s3.cat(names[7]).replace(b"1.07", b"2.07"))
    edited = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert [r.partition_key for r in edited.run_requests or []] == ["2024-08"]
    assert len(edited.cursor or "") < CURSOR_BYTES
