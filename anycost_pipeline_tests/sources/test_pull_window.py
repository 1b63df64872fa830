"""A pulled source away from UTC is asked for the local days that hold the UTC month, so the
records of local 1st 00:00 to the UTC month's end are not lost between two months' pulls."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.options import Spread
from anycost_pipeline.months import Month
from anycost_pipeline.sources.window import pull_window
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api
from anycost_pipeline_tests.sources.helpers import CONNECTION, failure_message, sent_rows

MONTHS = ["2024-07", "2024-08", "2024-09"]


def local_vendor(records: list[dict]):  # -> the responder of a vendor that answers by local date
    """A vendor API that returns the records whose local date lies in [from, to] (inclusive),
    as vendors with date parameters do."""

    def respond(request: Request) -> Answer:
        low, high = (
            date.fromisoformat(request.query["from"]),
            date.fromisoformat(request.query["to"]),
        )
        chosen = [r for r in records if low <= date.fromisoformat(r["date"][:10]) <= high]
        return Answer(body={"data": chosen})

    return respond


def use_vendor(project: Project, url: str, zone: str, **options: object) -> None:
    config = project.config()
    config["sources"] = {
        "vendor": {
            "connection": CONNECTION,
            "kind": "http",
            "url": url + "/usage?from={start}&to={last_day}",
            "records": "data",
            "timezone": zone,
            "columns": {
                "time/usage_start": "date",
                "cost/cost": "cost",
                "resource/service": "service",
            },
            **options,
        }
    }
    project.write_config(config)


def sent_by_month(project: Project, months: list[str]) -> dict[str, Decimal]:
    totals = {}
    for month in months:
        result = project.materialize_month(month, raise_on_error=False)
        assert result.success, failure_message(result)
        totals[month] = sum(
            (Decimal(r["cost/cost"]) for r in sent_rows(project, month)), Decimal(0)
        )
    return totals


def test_a_tokyo_api_month_keeps_the_records_of_its_utc_edges(project: Project) -> None:
    records = [
        {"date": "2024-08-01T03:00:00", "service": "A", "cost": "10.00"},  # 2024-07-31T18Z: July
        {"date": "2024-08-15T12:00:00", "service": "B", "cost": "20.00"},  # August
        {"date": "2024-09-01T05:00:00", "service": "C", "cost": "30.00"},  # 2024-08-31T20Z: August
        {"date": "2024-09-01T12:00:00", "service": "D", "cost": "40.00"},  # 2024-09-01T03Z: Sept.
    ]
    with fake_api(local_vendor(records)) as api:
        use_vendor(project, api.url, "Asia/Tokyo")
        totals = sent_by_month(project, MONTHS)
        asked = [(r.query["from"], r.query["to"]) for r in api.requests]
    assert totals == {
        "2024-07": Decimal("10.00"),
        "2024-08": Decimal("50.00"),
        "2024-09": Decimal("40.00"),
    }
    assert sum(totals.values()) == sum(Decimal(r["cost"]) for r in records)
    # Each pull asks for the local days that hold an hour of the UTC month.
    assert asked == [
        ("2024-07-01", "2024-08-01"),
        ("2024-08-01", "2024-09-01"),
        ("2024-09-01", "2024-10-01"),
    ]


def test_a_new_york_monthly_fee_reaches_september_through_an_api(project: Project) -> None:
    """Local August in New York ends at 2024-09-01T04:00Z: September's pull must return the fee
    dated 2024-08-01 for its first four hours."""
    records = [{"date": "2024-08-01", "service": "Platform", "cost": "744.00"}]
    with fake_api(local_vendor(records)) as api:
        use_vendor(project, api.url, "America/New_York", spread={"over": "month"})
        totals = sent_by_month(project, ["2024-08", "2024-09"])
    assert len(sent_rows(project, "2024-09")) == 4
    assert totals == {"2024-08": Decimal("740.00"), "2024-09": Decimal("4.00")}


ZONES = [
    "UTC",
    "Asia/Tokyo",
    "America/New_York",
    "America/Santiago",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Africa/Cairo",
    "Australia/Lord_Howe",
]


@settings(max_examples=200, deadline=None)
@given(
    year=st.integers(2019, 2030),
    number=st.integers(1, 12),
    zone=st.sampled_from(ZONES),
    over=st.sampled_from([None, "day", "month"]),
)
def test_the_window_holds_every_local_day_of_the_month_and_no_more(
    year: int, number: int, zone: str, over: str | None
) -> None:
    month = Month(year, number)
    spread = Spread(over=over) if over else None
    window = pull_window(month, zone, spread)
    local = ZoneInfo(zone)
    # Every hour of the UTC month falls on a local day of the window.
    first_local = month.start.astimezone(local).date()
    last_local = datetime.fromtimestamp(month.end.timestamp() - 3600, local).date()
    assert window.first_day <= first_local and last_local == window.last_day
    # With no spread the window starts on the local day of the month's first hour, so it asks
    # for at most one day more on either side than the UTC month has.
    if spread is None:
        assert window.first_day == first_local and window.start == month.start
    if month.start.astimezone(local).utcoffset().total_seconds() == 0 and spread is None:
        assert (window.first_day, window.end_day) == (month.start.date(), month.end.date())
