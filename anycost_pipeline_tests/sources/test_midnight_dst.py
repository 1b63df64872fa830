"""Date-only exports in zones whose clocks jump forward at midnight: the local day then starts at
01:00, and a date means that first instant of the day, not a time that does not exist."""

from decimal import Decimal

import pytest

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import sent_rows, use_files_source

# (zone, a day whose midnight does not exist or happens twice, the UTC hour that day starts)
MIDNIGHT_GAPS = [
    ("America/Santiago", "2024-09-08", "2024-09-08T04:00:00Z"),  # 01:00 -03
    ("Africa/Cairo", "2024-04-26", "2024-04-25T22:00:00Z"),  # 01:00 EEST (+03)
    ("America/Havana", "2024-03-10", "2024-03-10T05:00:00Z"),  # 01:00 CDT (-04)
    ("America/Asuncion", "2024-10-06", "2024-10-06T04:00:00Z"),  # 01:00 -03
    # Havana's clocks go back from 01:00 to 00:00: midnight happens twice, the day starts at the first
    ("America/Havana", "2024-11-03", "2024-11-03T04:00:00Z"),
]


@pytest.mark.parametrize(("zone", "day", "first_hour"), MIDNIGHT_GAPS)
def test_a_date_on_a_midnight_dst_day_is_the_first_instant_of_that_day(
    project: Project, zone: str, day: str, first_hour: str
) -> None:
    use_files_source(
        project,
        "local_vendor",
        {"export.csv": f"date,service,cost\n{day},Compute,12.34\n{day},Storage,0.000001\n"},
        timezone=zone,
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    result = project.materialize_month(first_hour[:7], raise_on_error=False)
    assert result.success, "a date whose midnight does not exist must still be read"
    rows = sent_rows(project, first_hour[:7])
    assert [r["time/usage_start"] for r in rows] == [first_hour, first_hour]
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("12.340001")


def test_a_date_time_that_does_not_exist_is_still_refused(project: Project) -> None:
    """Only a bare date names a whole day; a written 00:30 on the skipped hour names nothing."""
    use_files_source(
        project,
        "local_vendor",
        {"export.csv": "date,service,cost\n2024-09-08 00:30:00,Compute,1\n"},
        timezone="America/Santiago",
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    result = project.materialize_month("2024-09", raise_on_error=False)
    assert not result.success


def test_a_day_spread_over_the_23_hour_santiago_day_starts_at_its_first_instant(
    project: Project,
) -> None:
    use_files_source(
        project,
        "local_vendor",
        {"export.csv": "date,service,cost\n2024-09-08,Support,23.00\n"},
        timezone="America/Santiago",
        spread={"over": "day"},
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    assert project.materialize_month("2024-09").success
    rows = sent_rows(project, "2024-09")
    hours = sorted(r["time/usage_start"] for r in rows)
    assert len(hours) == 23 and hours[0] == "2024-09-08T04:00:00Z"
    assert hours[-1] == "2024-09-09T02:00:00Z"  # the day ends at midnight -03 = 03:00Z
    assert {r["cost/cost"] for r in rows} == {"1"}
