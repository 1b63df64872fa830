"""`time_format: iso` (the default) reads every ISO 8601 form vendors write: without seconds (as
OCI writes), with fractions, with offsets in every spelling, with a space for the T, date only."""

from decimal import Decimal

import pytest

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import failure_message, sent_rows, use_files_source

# Each text and the UTC hour it names.
FORMS = [
    ("2024-11-13T10:00Z", "2024-11-13T10:00:00Z"),  # OCI: no seconds
    ("2024-11-13T10:59z", "2024-11-13T10:00:00Z"),
    ("2024-11-13 10:00Z", "2024-11-13T10:00:00Z"),
    ("2024-11-13T10:00+02:00", "2024-11-13T08:00:00Z"),
    ("2024-11-13T10:00:00.5Z", "2024-11-13T10:00:00Z"),
    ("2024-11-13T10:00:00,25Z", "2024-11-13T10:00:00Z"),  # ISO allows a comma
    ("2024-11-13T10:30:00.123456789Z", "2024-11-13T10:00:00Z"),  # nanoseconds
    ("2024-11-13T10:00:00.123-05:00", "2024-11-13T15:00:00Z"),
    ("2024-11-13T10:00:00+0530", "2024-11-13T04:00:00Z"),
    ("2024-11-13T10:00:00+01", "2024-11-13T09:00:00Z"),
    ("2024-11-13 10:00:00.5 +00:00", "2024-11-13T10:00:00Z"),
    ("2024-11-13T10:00:00-00:00", "2024-11-13T10:00:00Z"),
    ("2024-11-13T10Z", "2024-11-13T10:00:00Z"),  # reduced precision: the hour
    ("20241113T100000Z", "2024-11-13T10:00:00Z"),  # basic format
    ("20241113T1000+0100", "2024-11-13T09:00:00Z"),
    ("20241113", "2024-11-13T00:00:00Z"),
    ("2024-11-13", "2024-11-13T00:00:00Z"),
    ("2024-11-13T10:00", "2024-11-13T10:00:00Z"),  # no offset: the source's zone (UTC here)
    ("2024-11-13 10:00:00.250", "2024-11-13T10:00:00Z"),
    ("2024-11-13t10:00:00Z", "2024-11-13T10:00:00Z"),
    ("2024-11-13 10:00:00 UTC", "2024-11-13T10:00:00Z"),  # as BigQuery exports write it
]


def test_every_iso_8601_form_is_read_through_the_month(project: Project) -> None:
    lines = "".join(f'"{text}",Compute,1.{i:02d}\n' for i, (text, _) in enumerate(FORMS))
    use_files_source(
        project,
        "oci",
        {"export.csv": "date,service,cost\n" + lines},
        time_format="iso",
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    result = project.materialize_month("2024-11", raise_on_error=False)
    assert result.success, failure_message(result)
    rows = sent_rows(project, "2024-11")
    sent = sorted((Decimal(r["cost/cost"]), r["time/usage_start"]) for r in rows)
    assert sent == sorted((Decimal(f"1.{i:02d}"), hour) for i, (_, hour) in enumerate(FORMS))


def test_oci_times_without_seconds_need_no_format(project: Project) -> None:
    """The default format reads them too, as the README's OCI mapping relies on."""
    use_files_source(
        project,
        "oci",
        {
            "export.csv": "date,service,cost\n2024-11-13T10:00Z,Compute,3.5\n2024-11-13T11:00Z,Compute,1\n"
        },
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    assert project.materialize_month("2024-11").success
    assert [r["time/usage_start"] for r in sent_rows(project, "2024-11")] == [
        "2024-11-13T10:00:00Z",
        "2024-11-13T11:00:00Z",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "2024-11-13T25:00Z",
        "2023-13-13",
        "2024-11-13T10:00:00+25:00",
        "13/11/2023",
        "2024-11-13T10:00:00 UTC+1",
        "2024-11-13T10:00:00Z junk",
    ],
)
def test_text_that_is_not_iso_is_refused_naming_it(project: Project, text: str) -> None:
    use_files_source(
        project,
        "oci",
        {"export.csv": f"date,service,cost\n2024-11-13,Compute,1\n{text},Compute,2\n"},
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    result = project.materialize_month("2024-11", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "export.csv, row 3, column 'date'" in message and repr(text) in message


def test_iso_forms_without_an_offset_are_read_in_the_source_zone(project: Project) -> None:
    use_files_source(
        project,
        "vendor",
        {
            "export.csv": "date,service,cost\n"
            "2024-11-13T10:00,Compute,1\n"
            "20241113T1100,Compute,2\n"
            "2024-11-13 12:00:00.75,Compute,3\n"
            "2024-11-13T13:00Z,Compute,4\n"
            "20241114,Compute,5\n"
        },
        timezone="Europe/Berlin",
        columns={"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"},
    )
    assert project.materialize_month("2024-11").success
    assert {r["cost/cost"]: r["time/usage_start"] for r in sent_rows(project, "2024-11")} == {
        "1": "2024-11-13T09:00:00Z",
        "2": "2024-11-13T10:00:00Z",
        "3": "2024-11-13T11:00:00Z",
        "4": "2024-11-13T13:00:00Z",
        "5": "2024-11-13T23:00:00Z",
    }
