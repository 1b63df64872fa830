"""The file index and the sensors learn a file's months from the same hours as the reader: a
file of corrections billed in June for May is a May file under `restate` and a June file under
`book_forward`, so the sensor requests the month the corrections will be sent in."""

import pytest

from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.watch import file_months
from anycost_pipeline_tests.conftest import REPO

CLOSED = (
    REPO / "anycost_pipeline_tests" / "fixtures" / "focus-corrections" / "closed-billing-period"
)


@pytest.mark.parametrize(
    ("policy", "months"),
    [("restate", ["2025-05"]), ("book_forward", ["2025-06"])],
)
def test_a_file_of_corrections_is_in_the_month_its_policy_sends_them(
    policy: str, months: list[str]
) -> None:
    source = FilesSource.model_validate(
        {
            "connection": "main",
            "path": "*.csv",
            "preset": "focus",
            "corrections": {"policy": policy},
        }
    )
    delta = CLOSED / "scenario_1_partial_reallocation_delta.csv"
    assert file_months("focus", source, str(delta)).months == months
    original = CLOSED / "scenario_1_partial_reallocation_original.csv"
    assert file_months("focus", source, str(original)).months == ["2025-05"]
