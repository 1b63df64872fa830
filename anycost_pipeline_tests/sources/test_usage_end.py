"""`time/usage_end` before `time/usage_start` names no real period: it is a bad value, reported with
its file, row, column and value, or kept in the rejects with its reason."""

from decimal import Decimal

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import (
    failure_message,
    materialised,
    sent_rows,
    stored_rejects,
    use_files_source,
)

EXPORT = (
    "start,end,service,cost\n"
    "2024-08-10T06:00:00Z,2024-08-10T07:00:00Z,Compute,1.50\n"
    "2024-08-10T06:30:00Z,2024-08-10T06:10:00Z,Compute,2.25\n"  # ends 20 minutes before it starts
    "2024-08-11T00:00:00Z,2024-08-11T00:00:00Z,Storage,0.75\n"  # an instant: not earlier
    "2024-08-12T09:00:00+02:00,2024-08-12T07:30:00Z,Network,4\n"  # 07:00Z..07:30Z: fine
    "2024-08-12,2024-08-11,Network,8\n"  # a day before it starts
)
COLUMNS = {
    "time/usage_start": "start",
    "time/usage_end": "end",
    "cost/cost": "cost",
    "resource/service": "service",
}


def test_an_end_before_the_start_fails_the_month_naming_it(project: Project) -> None:
    use_files_source(project, "vendor", {"usage.csv": EXPORT}, columns=COLUMNS)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "2 bad values" in message
    assert "usage.csv, row 3, column 'end': value '2024-08-10T06:10:00Z'" in message
    assert "usage.csv, row 6, column 'end': value '2024-08-11'" in message
    assert "before the usage starts" in message
    assert sent_rows(project, "2024-08") == []


def test_with_reject_the_row_is_kept_aside_with_its_reason(project: Project) -> None:
    use_files_source(
        project, "vendor", {"usage.csv": EXPORT}, columns=COLUMNS, on_bad_rows="reject"
    )
    result = project.materialize_month("2024-08")
    assert result.success
    rejects = stored_rejects(project, "vendor", "2024-08")
    assert rejects.get_column("_source_row").to_list() == [3, 6]
    reasons = rejects.get_column("_reasons").to_list()
    assert reasons[0].startswith("column 'end': value '2024-08-10T06:10:00Z': ")
    assert "before the usage starts" in reasons[0]
    assert materialised(result)["cbf/vendor"]["rejected_rows"].value == 2
    rows = sent_rows(project, "2024-08")
    assert sorted(Decimal(r["cost/cost"]) for r in rows) == [
        Decimal("0.75"),
        Decimal("1.50"),
        Decimal("4"),
    ]


def test_an_end_column_that_also_spreads_is_reported_once(project: Project) -> None:
    use_files_source(
        project,
        "vendor",
        {"usage.csv": EXPORT},
        columns=COLUMNS,
        spread={"end": "end"},
    )
    result = project.materialize_month("2024-08", raise_on_error=False)
    message = failure_message(result)
    assert "2 bad values" in message
    assert message.count("usage.csv, row 3, column 'end'") == 1
    assert "ends before the usage starts ('2024-08-10T06:30:00Z')" in message
