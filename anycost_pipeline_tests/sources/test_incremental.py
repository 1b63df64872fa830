"""Incremental sources: every pull kept, the month is the merge; restated records replace,
repeated deliveries do not double, a short pull does not shrink the month."""

import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.config import Tombstone
from anycost_pipeline.months import Month
from anycost_pipeline.sources import batches
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api


def day(n: int, cost_a: str = "10.01", cost_b: str = "0.000001") -> list[dict]:
    date = f"2024-08-{n:02d}"
    return [
        {"id": f"{date}-a", "date": date, "service": "Compute", "cost": cost_a},
        {"id": f"{date}-b", "date": f"{date}T13:00:00Z", "service": "Storage", "cost": cost_b},
    ]


# What the vendor's API hands out at each daily pull: only what is new since the last one.
DELIVERIES: list[list[dict]] = [
    day(1),
    day(2),
    day(3) + day(1, cost_a="12.50"),  # day 1 restated: one record's cost corrected
    day(4),
    day(4) + day(5),  # day 4 delivered a second time
    [],  # a pull that brings nothing must not shrink the month
    day(7)
    + [{"id": "2024-08-02-b", "date": "2024-08-02", "deleted": "true"}],  # a record withdrawn
]


def expected_month() -> dict[str, str]:
    """The month as the vendor finally states it: record id → cost."""
    month: dict[str, str] = {}
    for delivery in DELIVERIES:
        for record in delivery:
            month[record["id"]] = record.get("cost", "")
    return {key: cost for key, cost in month.items() if cost}


def sandbox_month(project: Project) -> dict[str, str]:
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    by_id = {row["lineitem/id"]: row["cost/cost"] for row in rows}
    assert len(by_id) == len(rows)  # no record sent twice
    return by_id


def use_api(project: Project, url: str) -> None:
    config = project.config()
    config["sources"] = {
        "vendor_api": {
            "connection": "simple_cloud_main",
            "kind": "http",
            "url": url + "/usage?from={start}&to={end}",
            "records": "data",
            "incremental": True,
            "key": ["id"],
            "tombstone": "deleted",
            "columns": {
                "time/usage_start": "date",
                "cost/cost": "cost",
                "resource/service": "service",
                "lineitem/id": "id",
            },
        }
    }
    project.write_config(config)


def test_fed_day_by_day_the_month_ends_exactly_right_and_rebuilds(project: Project) -> None:
    serving: list[dict] = []

    def respond(request: Request) -> Answer:
        assert request.query == {"from": "2024-08-01", "to": "2024-09-01"}
        return Answer(body={"data": serving})

    with fake_api(respond) as api:
        use_api(project, api.url)
        for delivery in DELIVERIES:
            serving[:] = delivery
            assert project.materialize_month("2024-08").success
        expected = expected_month()
        assert len(expected) == 11  # 6 days x 2 records, less the withdrawn one
        assert expected["2024-08-01-a"] == "12.50"
        assert sandbox_month(project) == expected
        assert len(batches.list_batches(project.storage, "vendor_api", Month(2024, 8))) == len(
            DELIVERIES
        )

        # The stored raw frames are derived: deleting them and pulling again gives the same month.
        shutil.rmtree(project.storage / "frames")
        serving[:] = []
        assert project.materialize_month("2024-08").success
        assert sandbox_month(project) == expected

        # From scratch: drop the month's batches and pull the whole month once more.
        shutil.rmtree(batches.batch_folder(project.storage, "vendor_api", Month(2024, 8)))
        serving[:] = [r for delivery in DELIVERIES for r in delivery if r["id"] in expected]
        serving[:] = list({r["id"]: r for r in serving}.values())
        assert project.materialize_month("2024-08").success
        assert sandbox_month(project) == expected
    total = sum(Decimal(c) for c in expected.values())
    assert sum(Decimal(c) for c in sandbox_month(project).values()) == total


def test_a_pull_that_repeats_a_key_fails_instead_of_hiding_a_record(project: Project) -> None:
    with fake_api(lambda r: Answer(body={"data": day(1) + day(1, cost_a="3")[:1]})) as api:
        use_api(project, api.url)
        result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert (
        "2 records in the pull for 2024-08 share a key (id)" in message
        and "id='2024-08-01-a'" in message
    )
    assert batches.list_batches(project.storage, "vendor_api", Month(2024, 8)) == []


def test_merge_keeps_the_latest_statement_and_honours_tombstones(tmp_path: Path) -> None:
    month = Month(2024, 8)
    first = pl.DataFrame(
        {
            "id": ["1", "2", "3"],
            "cost": ["1", "2", "3"],
            "_source_file": "a",
            "_source_row": [1, 2, 3],
        }
    )
    second = pl.DataFrame(
        {
            "id": ["2", "3"],
            "cost": ["20", None],
            "gone": [None, "Yes"],
            "_source_file": "b",
            "_source_row": [1, 2],
        }
    )
    batches.save_batch(tmp_path, "s", month, first)
    batches.save_batch(tmp_path, "s", month, second)
    merged = batches.merge_batches(
        "s", batches.list_batches(tmp_path, "s", month), ["id"], Tombstone(column="gone")
    )
    origins = sorted(merged.select("id", "cost", "_source_file").rows())
    assert [(i, c) for i, c, _ in origins] == [("1", "1"), ("2", "20")]
    # Each record names where it came from and which pull brought it.
    assert origins[0][2].startswith("a (pull ") and origins[1][2].startswith("b (pull ")
    with pytest.raises(batches.SourceBatchError, match="key column 'account'"):
        batches.merge_batches("s", batches.list_batches(tmp_path, "s", month), ["account"], None)


def test_since_is_the_start_of_the_previous_pull(tmp_path: Path) -> None:
    from anycost_pipeline import sources
    from anycost_pipeline.config import load_config

    answers = [day(1), day(2)]
    with fake_api(lambda r: Answer(body=answers.pop(0))) as api:
        (tmp_path / "anycost.yaml").write_text(
            "start_month: 2024-01\nconnections: {main: {connection_id: x}}\nsources:\n  changes:\n"
            f"    {{connection: main, kind: http, url: '{api.url}/changes?since={{since}}', incremental: true, key: [id],\n"
            "     columns: {time/usage_start: date, cost/cost: cost}}\n"
        )
        config = load_config(tmp_path / "anycost.yaml")
        source = config.sources["changes"]
        first = sources.read_month("changes", source, config, Month(2024, 8))
        started = batches.last_pull(config.storage_path, "changes", Month(2024, 8))
        second = sources.read_month("changes", source, config, Month(2024, 8))
    assert api.requests[0].query["since"] == "2024-08-01T00:00:00Z"  # first pull: the whole month
    assert started is not None and api.requests[1].query["since"] == started.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert (len(first), len(second)) == (2, 4)


# A vendor that restates records into another month. Its API answers what it holds now for the
# asked dates (`from`/`to`), or, with `changed_since`, every record changed since then.


class Vendor:
    def __init__(self, records: list[dict]) -> None:
        self.records = {r["id"]: dict(r) for r in records}
        self.changed: dict[str, int] = dict.fromkeys(self.records, 0)
        self.clock = 0
        self.read_up_to = -1

    def restate(self, key: str, **values: str) -> None:
        self.clock += 1
        self.records[key] = {**self.records.get(key, {"id": key}), **values}
        self.changed[key] = self.clock

    def respond(self, request: Request) -> Answer:
        if request.path == "/changes":  # what changed since the feed was last read
            rows = [r for k, r in self.records.items() if self.changed[k] > self.read_up_to]
            self.read_up_to = self.clock
        else:
            low, high = request.query["from"], request.query["to"]
            rows = [r for r in self.records.values() if low <= r["date"][:10] < high]
        return Answer(body={"data": rows})

    def final_by_month(self) -> dict[str, dict[str, str]]:
        months: dict[str, dict[str, str]] = {}
        for record in self.records.values():
            if record.get("deleted") != "true":
                months.setdefault(record["date"][:7], {})[record["id"]] = record["cost"]
        return months


def assert_months_exact(project: Project, vendor: Vendor, months: list[str]) -> None:
    expected = vendor.final_by_month()
    for month in months:
        rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)
        by_id = {row["lineitem/id"]: row["cost/cost"] for row in rows}
        assert len(by_id) == len(rows), f"{month}: a record sent twice"
        assert by_id == expected.get(month, {}), month
    sent = [
        Decimal(row["cost/cost"])
        for month in months
        for row in SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)
    ]
    stated = [Decimal(c) for month in expected.values() for c in month.values()]
    assert sum(sent) == sum(stated)


def test_a_record_restated_into_the_next_month_moves_there(project: Project) -> None:
    vendor = Vendor(
        [
            {"id": "42", "date": "2024-08-31", "service": "Compute", "cost": "500.00"},
            {"id": "7", "date": "2024-08-10", "service": "Compute", "cost": "1.25"},
            {"id": "8", "date": "2024-09-03", "service": "Storage", "cost": "2.50"},
        ]
    )
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        assert project.materialize_month("2024-08").success
        assert project.materialize_month("2024-09").success
        vendor.restate("42", date="2024-09-01")  # the vendor moves it to September
        assert project.materialize_month("2024-09").success
        assert project.materialize_month("2024-08").success
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])
        # It moves back, with a new cost: the latest statement decides, wherever it was pulled.
        vendor.restate("42", date="2024-08-30", cost="450.00")
        assert project.materialize_month("2024-08").success
        assert project.materialize_month("2024-09").success
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])


def test_a_change_feed_that_moves_a_record_out_of_the_pulled_month(project: Project) -> None:
    """A pull for August may state a record of September: it belongs to September's raw."""
    vendor = Vendor(
        [
            {"id": "42", "date": "2024-08-31", "service": "Compute", "cost": "500.00"},
            {"id": "7", "date": "2024-08-10", "service": "Compute", "cost": "1.25"},
        ]
    )
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        config = project.config()
        config["sources"]["vendor_api"]["url"] = api.url + "/changes?since={since}"
        project.write_config(config)
        assert project.materialize_month("2024-08").success
        vendor.restate("42", date="2024-09-01", cost="510.00")
        vendor.restate("9", date="2024-09-15", service="Storage", cost="3")
        assert project.materialize_month("2024-08").success  # the feed brings 42 and 9
        assert project.materialize_month("2024-09").success
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])
        vendor.restate("42", deleted="true")
        assert project.materialize_month("2024-08").success
        assert project.materialize_month("2024-09").success
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])


def test_merge_across_months_keeps_each_records_latest_statement(tmp_path: Path) -> None:
    august, september = Month(2024, 8), Month(2024, 9)
    first = pl.DataFrame(
        {"id": ["42", "7"], "date": ["2024-08-31", "2024-08-10"], "cost": ["500", "1"]}
    ).with_columns(pl.lit("a").alias("_source_file"), pl.Series("_source_row", [1, 2]))
    later = pl.DataFrame({"id": ["42"], "date": ["2024-09-01"], "cost": ["500"]}).with_columns(
        pl.lit("b").alias("_source_file"), pl.Series("_source_row", [1])
    )
    batches.save_batch(tmp_path, "s", august, first)
    batches.save_batch(tmp_path, "s", september, later)
    merged = batches.merge_batches("s", batches.all_batches(tmp_path, "s"), ["id"], None)
    assert sorted(merged.select("id", "date").rows()) == [("42", "2024-09-01"), ("7", "2024-08-10")]


def restated_sensor_of(project: Project):  # -> (job, instance, requested months)
    """The submit job, an instance, and what `restated_vendor_api` requests on it now."""
    import dagster as dg

    defs = project.definitions()
    sensor = defs.resolve_sensor_def("restated_vendor_api")
    instance = dg.DagsterInstance.ephemeral()

    def requested() -> list[str]:
        result = sensor(dg.build_sensor_context(instance=instance))
        return sorted(r.partition_key for r in result.run_requests or [])

    return defs.resolve_job_def("submit_month"), instance, requested


def test_the_month_a_restated_record_left_is_requested_again(project: Project) -> None:
    """August is sent with record 42; September's pull states 42 as of September. September's
    run sends it there, and the sensor requests August, which still holds 42 in CloudZero, until
    August is sent again: then no month is requested and each record is counted once."""

    vendor = Vendor(
        [
            {"id": "42", "date": "2024-08-31", "service": "Compute", "cost": "500.00"},
            {"id": "7", "date": "2024-08-10", "service": "Compute", "cost": "1.25"},
            {"id": "9", "date": "2024-09-15", "service": "Storage", "cost": "3.00"},
        ]
    )
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        job, instance, requested = restated_sensor_of(project)
        for month in ("2024-08", "2024-09"):
            assert job.execute_in_process(partition_key=month, instance=instance).success
        assert requested() == []  # each month as its own run found it
        vendor.restate("42", date="2024-09-01")
        assert job.execute_in_process(partition_key="2024-09", instance=instance).success
        assert requested() == ["2024-08"]  # August still holds 42 in CloudZero
        assert job.execute_in_process(partition_key="2024-08", instance=instance).success
        assert requested() == []
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])


def test_a_record_without_a_key_value_is_refused_naming_its_row(project: Project) -> None:
    """Two tax lines without an id would merge into one across pulls (the later replacing
    the earlier, 32.00 sent for 33.00): the pull is refused, naming the record, nothing sent."""
    vendor = Vendor(
        [
            {"id": "1", "date": "2024-08-01", "service": "Compute", "cost": "31.00"},
            {"id": "", "date": "2024-08-01", "service": "Tax", "cost": "1.00"},
        ]
    )
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = " ".join(
        e.step_failure_data.user_failure_data.description or ""
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data and e.step_failure_data.user_failure_data
    )
    assert "1 record(s) in the pull for 2024-08 have no value in the key (id)" in message, message
    assert "row 2, column 'id': value ''" in message, message
    store = SandboxStore(project.storage / "sandbox")
    assert store.month_rows("simple_cloud_main", "2024-08") == []


def test_pulls_are_ordered_as_they_started_whatever_the_clock_says(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull from a machine whose clock runs two days fast, then a correction pulled with the
    right clock: the correction is the later pull, and the month holds it."""
    from datetime import datetime, timedelta, timezone

    import anycost_pipeline.sources as sources

    class FastClock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime.now(timezone.utc) + timedelta(days=2)

    vendor = Vendor([{"id": "9", "date": "2024-08-05", "service": "Compute", "cost": "5.00"}])
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        with monkeypatch.context() as fast:
            fast.setattr(sources, "datetime", FastClock)
            assert project.materialize_month("2024-08").success
        vendor.restate("9", cost="6.00")
        assert project.materialize_month("2024-08").success
        assert_months_exact(project, vendor, ["2024-08"])
        assert sandbox_month(project) == {"9": "6.00"}


def test_a_month_whose_only_record_was_restated_away_is_requested_and_cleared(
    project: Project,
) -> None:
    """Record 42 was August's only record; the vendor restates it into September. The sensor
    requests August (its records changed: it holds none now), and August's run clears it
    instead of failing with "no rows": 42 is counted once, in September."""
    vendor = Vendor(
        [
            {"id": "42", "date": "2024-08-31", "service": "Compute", "cost": "500.00"},
            {"id": "9", "date": "2024-09-15", "service": "Storage", "cost": "3.00"},
        ]
    )
    with fake_api(vendor.respond) as api:
        use_api(project, api.url)
        job, instance, requested = restated_sensor_of(project)
        for month in ("2024-08", "2024-09"):
            assert job.execute_in_process(partition_key=month, instance=instance).success
        vendor.restate("42", date="2024-09-01")
        assert job.execute_in_process(partition_key="2024-09", instance=instance).success
        assert requested() == ["2024-08"]  # August still holds 42 in CloudZero
        august = job.execute_in_process(partition_key="2024-08", instance=instance)
        assert august.success
        drop = next(
            e.materialization
            for e in august.get_asset_materialization_events()
            if e.materialization.asset_key.path[0] == "drop"
        )
        assert drop.metadata["status"].value == "cleared"
        assert requested() == []
        assert_months_exact(project, vendor, ["2024-08", "2024-09"])
