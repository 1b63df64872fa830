"""A charge spread over a local day or month of a vendor away from UTC covers hours of two UTC
months: each month holds exactly the hours of the charge that fall in it, the parts of all
months add up to the charge to the last digit, and no part lies outside the charge period."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import (
    CONNECTION,
    failure_message,
    materialised,
    readme_source,
    sent_rows,
    stored_rejects,
    use_files_source,
)

README = Path(__file__).resolve().parents[2] / "README.md"
COLUMNS = {
    "time/usage_start": "date",
    "cost/cost": "cost",
    "resource/service": "service",
    "lineitem/type": "kind",
}


def hours_between(start: str, end: str) -> list[str]:
    low = datetime.fromisoformat(start.replace("Z", "+00:00"))
    high = datetime.fromisoformat(end.replace("Z", "+00:00"))
    out = []
    while low < high:
        out.append(low.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        low += timedelta(hours=1)
    return out


def materialise(project: Project, *months: str) -> dict[str, list[dict]]:
    sent = {}
    for month in months:
        result = project.materialize_month(month, raise_on_error=False)
        assert result.success, failure_message(result)
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["cost_conserved"] and checks["rows_valid"], checks
        sent[month] = sent_rows(project, month)
    return sent


def test_a_tokyo_monthly_fee_is_shared_by_july_and_august_exactly(project: Project) -> None:
    source = readme_source("tokyo_vendor")  # the README's example, as written
    folder = project.root / Path(source["path"]).parent
    folder.mkdir(parents=True)
    (folder / "fees.csv").write_text("date,service,kind,cost\n2024-08-01,Platform,Fee,744.00\n")
    config = project.config()
    config["sources"] = {"tokyo": {**source, "connection": CONNECTION}}
    project.write_config(config)
    sent = materialise(project, "2024-07", "2024-08")
    july, august = sent["2024-07"], sent["2024-08"]
    assert [r["time/usage_start"] for r in july] == hours_between(
        "2024-07-31T15:00:00Z", "2024-08-01T00:00:00Z"
    )
    assert [r["time/usage_start"] for r in august] == hours_between(
        "2024-08-01T00:00:00Z", "2024-08-31T15:00:00Z"
    )
    assert (len(july), len(august)) == (9, 735)
    # No part outside the charge period: September holds nothing of it (an empty month, with
    # nothing to send: CloudZero never held it).
    assert materialise(project, "2024-09")["2024-09"] == []
    assert {r["cost/cost"] for r in july + august} == {"1"}
    assert sum(Decimal(r["cost/cost"]) for r in july + august) == Decimal("744.00")


@pytest.mark.parametrize(
    ("zone", "date", "over", "start", "end"),
    [
        ("Asia/Tokyo", "2024-08-01", "month", "2024-07-31T15:00:00Z", "2024-08-31T15:00:00Z"),
        ("Asia/Tokyo", "2024-08-01", "day", "2024-07-31T15:00:00Z", "2024-08-01T15:00:00Z"),
        ("Asia/Kolkata", "2024-08-01", "month", "2024-07-31T18:30:00Z", "2024-08-31T18:00:00Z"),
        ("America/New_York", "2024-07-31", "day", "2024-07-31T04:00:00Z", "2024-08-01T04:00:00Z"),
        ("America/New_York", "2024-07-01", "month", "2024-07-01T04:00:00Z", "2024-08-01T04:00:00Z"),
        ("Australia/Sydney", "2024-10-01", "month", "2024-09-30T14:00:00Z", "2024-10-31T13:00:00Z"),
    ],
)
def test_an_uneven_charge_across_a_utc_month_end_is_conserved_to_the_digit(
    project: Project, zone: str, date: str, over: str, start: str, end: str
) -> None:
    use_files_source(
        project,
        "vendor",
        {"fees.csv": f"date,service,kind,cost\n{date},Platform,Fee,100.00\n"},
        timezone=zone,
        spread={"over": over},
        columns=COLUMNS,
    )
    first = start[:7]
    second = f"{int(first[:4]) + (first[5:] == '12'):04d}-{int(first[5:]) % 12 + 1:02d}"
    sent = materialise(project, first, second)
    rows = sent[first] + sent[second]
    hours = [r["time/usage_start"] for r in rows]
    # Kolkata's half-hour offset: the charge runs for a local month from its first UTC hour
    assert hours == hours_between(start[:14] + "00:00Z", end)
    assert all(h.startswith(first) for h in [r["time/usage_start"] for r in sent[first]])
    assert all(h.startswith(second) for h in [r["time/usage_start"] for r in sent[second]])
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("100.00")


def test_a_start_end_charge_into_the_next_month_is_shared_by_both(project: Project) -> None:
    use_files_source(
        project,
        "vendor",
        {
            "fees.csv": "date,until,service,kind,cost\n"
            "2024-08-30T00:00:00Z,2024-09-02T00:00:00Z,Platform,Fee,1\n"
            "2024-08-10T06:00:00Z,2024-08-10T09:00:00Z,Platform,Credit,-0.05\n"
        },
        spread={"end": "until"},
        columns=COLUMNS,
    )
    sent = materialise(project, "2024-08", "2024-09")
    long = [r for r in sent["2024-08"] if r["lineitem/type"] == "Fee"]
    assert len(long) == 48 and len(sent["2024-09"]) == 24
    assert sum(Decimal(r["cost/cost"]) for r in long + sent["2024-09"]) == Decimal(1)
    credit = [r["cost/cost"] for r in sent["2024-08"] if r["lineitem/type"] == "Credit"]
    assert credit == ["-0.01666667", "-0.01666667", "-0.01666666"]


def use_tokyo_fee(project: Project) -> None:
    """A Tokyo vendor's 744.00 fee of local August, spread over its month: 9 hours in July."""
    use_files_source(
        project,
        "tokyo",
        {"fees.csv": "date,service,kind,cost\n2024-08-01,Platform,Fee,744.00\n"},
        timezone="Asia/Tokyo",
        spread={"over": "month"},
        columns=COLUMNS,
    )


def test_raw_shows_the_months_share_of_a_shared_charge(project: Project) -> None:
    use_tokyo_fee(project)
    result = project.materialize_month("2024-07")
    raw = materialised(result)["raw/tokyo"]
    assert raw["rows"].value == 1
    assert Decimal(raw["total_cost_exact"].value) == Decimal(9)


def test_a_rejected_shared_charge_is_accounted_in_each_month(project: Project) -> None:
    """With `on_bad_rows: reject`, a bad charge that two months share is rejected by both, and
    each month's check counts its own part of it."""
    use_files_source(
        project,
        "tokyo",
        {
            "fees.csv": "date,service,kind,cost,qty\n"
            "2024-08-01,Platform,Fee,100.00,1\n"
            "2024-08-01,Support,Fee,31.00,1 seat\n"  # a bad quantity
            "2024-07-10,Platform,Usage,0.5,2\n"  # Jul 9 15:00Z to Aug 9 15:00Z
        },
        timezone="Asia/Tokyo",
        spread={"over": "month"},
        on_bad_rows="reject",
        columns={**COLUMNS, "usage/amount": "qty"},
    )
    sent = materialise(project, "2024-07", "2024-08")
    assert len(sent["2024-07"]) == 9 + 537 and len(sent["2024-08"]) == 735 + 207
    for month in ("2024-07", "2024-08"):
        rejects = stored_rejects(project, "tokyo", month)
        assert rejects.get_column("qty").to_list() == ["1 seat"], month
    total = sum(Decimal(r["cost/cost"]) for r in sent["2024-07"] + sent["2024-08"])
    assert total == Decimal("100.50")


def test_the_sensor_and_raw_see_every_month_a_shared_charge_touches(project: Project) -> None:
    use_tokyo_fee(project)
    sensor = project.definitions().resolve_sensor_def("watch_tokyo")
    result = sensor(dg.build_sensor_context(cursor=None))
    assert isinstance(result, dg.SensorResult)
    assert sorted(r.partition_key for r in result.run_requests or []) == ["2024-07", "2024-08"]
    raw = materialised(project.materialize_month("2024-08"))["raw/tokyo"]
    assert raw["months_in_source"].value == "2024-07, 2024-08"
