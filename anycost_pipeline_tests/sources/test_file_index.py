"""A month reads only the export files that can hold it (the index of each file's months),
with the same money as reading every file; a spread charge's file is read for each month it
reaches."""

import shutil
from datetime import date, timedelta
from decimal import Decimal

import pytest

from anycost_pipeline.sources import files
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import materialised, sent_total, use_files_source

HEADER = "date,service,cost\n"
COLUMNS = {"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _exports() -> dict[str, str]:
    """A daily export, one file a day from June to September, each a fee of its local day."""
    return {
        f"daily_{day}.csv": HEADER + f"{day},Support,{day.day}.{day.month:02d}\n"
        for day in _days(date(2024, 6, 1), date(2024, 9, 30))
    }


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the export files read, alone or together with others."""
    names: list[str] = []
    read, read_together = files.read_file, files.read_local_csvs

    def reading(source_name, source, path):
        names.append(path.rsplit("/", 1)[-1])
        return read(source_name, source, path)

    def reading_together(source, paths):
        frames = read_together(source, paths)
        names.extend(path.rsplit("/", 1)[-1] for path in frames)
        return frames

    monkeypatch.setattr(files, "read_file", reading)
    monkeypatch.setattr(files, "read_local_csvs", reading_together)
    return names


def _month(project: Project, month: str) -> tuple[Decimal, dict]:
    result = project.materialize_month(month)
    return sent_total(project, month), materialised(result)["raw/daily"]


def test_a_month_opens_only_its_files_and_money_is_unchanged(
    project: Project, opened: list[str]
) -> None:
    use_files_source(
        project,
        "daily",
        _exports(),
        timezone="Asia/Tokyo",
        spread={"over": "day"},
        columns=COLUMNS,
    )
    _month(project, "2024-06")  # no index yet: every file is read once, to learn its months
    assert len(opened) == len(_exports())
    opened.clear()

    total, raw = _month(project, "2024-08")
    # The local days of August, and September 1st, whose Tokyo day starts at 15:00 UTC on
    # August 31st; July 31st's day ended at 15:00 UTC on July 31st.
    expected = [f"daily_{d}.csv" for d in _days(date(2024, 8, 1), date(2024, 9, 1))]
    assert sorted(opened) == expected
    assert raw["months_in_source"].value == "2024-05, 2024-06, 2024-07, 2024-08, 2024-09"

    # The same month read from every file, without the index: the same money to the digit.
    shutil.rmtree(project.storage / "index")
    shutil.rmtree(project.storage / "sandbox")
    opened.clear()
    again, raw_again = _month(project, "2024-08")
    assert len(opened) == len(_exports())
    assert again == total and raw_again["total_cost_exact"] == raw["total_cost_exact"]
    # 31 local days of August, less the 9 hours of August 1st's fee that are July's (UTC),
    # plus the 9 hours of September 1st's that are August's.
    days = _days(date(2024, 8, 1), date(2024, 8, 31))
    stated = sum((Decimal(f"{d.day}.08") for d in days), Decimal(0))
    assert total == stated - Decimal("1.08") * 9 / 24 + Decimal("1.09") * 9 / 24


def test_a_changed_file_is_read_again_and_moves_its_month(
    project: Project, opened: list[str]
) -> None:
    use_files_source(project, "daily", _exports(), columns=COLUMNS)
    _month(project, "2024-07")
    moved = project.root / "exports" / "daily" / "daily_2024-06-10.csv"
    moved.write_text(HEADER + "2024-07-10,Support,5.00\n")
    opened.clear()
    total, _ = _month(project, "2024-07")
    assert "daily_2024-06-10.csv" in opened and len(opened) == 32
    stated = sum((Decimal(f"{d.day}.07") for d in _days(date(2024, 7, 1), date(2024, 7, 31))))
    assert total == stated + Decimal("5.00")
    opened.clear()
    _month(project, "2024-06")
    assert "daily_2024-06-10.csv" not in opened and len(opened) == 29


def test_a_file_with_a_row_in_no_month_is_read_for_every_month(
    project: Project, opened: list[str]
) -> None:
    exports = _exports()
    exports["daily_2024-06-10.csv"] += "2024-06-31,Support,1.00\n"
    use_files_source(project, "daily", exports, columns=COLUMNS, on_bad_rows="reject")
    _month(project, "2024-07")
    opened.clear()
    _, raw = _month(project, "2024-08")
    assert "daily_2024-06-10.csv" in opened and raw["rows_without_a_time"].value == 1
