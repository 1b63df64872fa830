"""Times: declared formats, the source's time zone across daylight-saving days, month boundaries."""

import pytest

from anycost_pipeline.cbf.errors import BadSourceData
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

COLUMNS = {"time/usage_start": "when", "cost/cost": "cost"}


def _hours(texts: list[str], month: Month, **options: object) -> list[str]:
    frame = source_frame(when=texts, cost=["1"] * len(texts))
    return run(frame, month, columns=COLUMNS, **options).cbf["time/usage_start"].to_list()


def test_spring_forward_day_has_23_hours() -> None:
    # Berlin, 31 March 2024: 02:00 local does not exist, the day has 23 hours.
    local = [f"2024-03-31 {h:02d}:00:00" for h in range(24) if h != 2]
    hours = _hours(local, Month(2024, 3), timezone="Europe/Berlin")
    assert len(set(hours)) == 23
    assert hours[0] == "2024-03-30T23:00:00Z" and hours[1] == "2024-03-31T00:00:00Z"
    assert hours[2] == "2024-03-31T01:00:00Z"  # 03:00 CEST follows 01:00 CET one hour later
    assert hours[-1] == "2024-03-31T21:00:00Z"


def test_fall_back_day_has_25_hours_with_a_declared_policy() -> None:
    # Berlin, 27 October 2024: 02:00-03:00 local happens twice. Listed once each, both
    # readings are needed; a source giving local times twice must say which it means.
    local = [f"2024-10-27 {h:02d}:00:00" for h in range(24)]
    earliest = _hours(local, Month(2024, 10), timezone="Europe/Berlin", ambiguous_time="earliest")
    latest = _hours(local, Month(2024, 10), timezone="Europe/Berlin", ambiguous_time="latest")
    assert earliest[2] == "2024-10-27T00:00:00Z" and latest[2] == "2024-10-27T01:00:00Z"
    assert len(set(earliest) | set(latest)) == 25


def test_ambiguous_and_missing_local_times_are_reported_not_guessed() -> None:
    for text, month in [
        ("2024-10-27 02:30:00", Month(2024, 10)),
        ("2024-03-31 02:30:00", Month(2024, 3)),
    ]:
        with pytest.raises(
            BadSourceData, match=rf"row 3, column 'when': value '{text}': .*daylight-saving"
        ):
            _hours(["2024-10-01 10:00:00", text], month, timezone="Europe/Berlin")


def test_local_month_boundaries_follow_utc() -> None:
    # New York is UTC-4 in October: 1 Nov 00:30 local is 04:30 UTC (November);
    # 31 Oct 21:00 local is 1 Nov 01:00 UTC, so it belongs to November too.
    texts = ["2024-11-01 00:30:00", "2024-10-31 21:00:00", "2024-10-31 19:59:00"]
    assert _hours(texts, Month(2024, 11), timezone="America/New_York") == [
        "2024-11-01T04:00:00Z",
        "2024-11-01T01:00:00Z",
    ]
    assert _hours(texts, Month(2024, 10), timezone="America/New_York") == ["2024-10-31T23:00:00Z"]


@pytest.mark.parametrize(
    ("fmt", "text", "hour"),
    [
        ("YYYY-MM-DD", "2024-08-16", "2024-08-16T00:00:00Z"),
        ("M/D/YYYY", "8/16/2024", "2024-08-16T00:00:00Z"),
        ("M/D/YYYY", "8/16/2024 13:45", "2024-08-16T13:00:00Z"),
        ("epoch_seconds", "1723816800", "2024-08-16T14:00:00Z"),
        ("epoch_millis", "1723816800123", "2024-08-16T14:00:00Z"),
        ("iso", "2024-08-16T15:59:59+02:00", "2024-08-16T13:00:00Z"),
        ("%d.%m.%Y %H:%M", "16.08.2024 13:05", "2024-08-16T13:00:00Z"),
    ],
)
def test_declared_formats(fmt: str, text: str, hour: str) -> None:
    assert _hours([text], Month(2024, 8), time_format=fmt) == [hour]


def test_several_formats_and_a_value_matching_none() -> None:
    assert _hours(["2024-08-16", "8/17/2024"], Month(2024, 8), time_format=["iso", "M/D/YYYY"]) == [
        "2024-08-16T00:00:00Z",
        "2024-08-17T00:00:00Z",
    ]
    with pytest.raises(BadSourceData, match="value '17/8/2024'.*with format 'iso' or 'M/D/YYYY'"):
        _hours(["17/8/2024"], Month(2024, 8), time_format=["iso", "M/D/YYYY"])


def test_an_export_changing_iso_form_after_its_first_rows_is_read_row_by_row() -> None:
    # The first rows decide which ISO form is tried first; rows in other forms must still be read.
    first = ["2024-08-16 13:05:00"] * 150
    later = ["2024-08-16T15:59:59+02:00", "2024-08-17", "2024-08-18T01:30:00Z", "2024-08-19 22:10"]
    assert _hours(first + later, Month(2024, 8))[-4:] == [
        "2024-08-16T13:00:00Z",
        "2024-08-17T00:00:00Z",
        "2024-08-18T01:00:00Z",
        "2024-08-19T22:00:00Z",
    ]
    with pytest.raises(BadSourceData, match=r"row 152, column 'when': value 'soon'"):
        _hours(first + ["soon"], Month(2024, 8))
