"""Corrections to invoiced months (`corrections:` on a source), through `anycost run` on the
FOCUS specification's own correction-handling scenarios (fixtures/focus-corrections).

May 2025 was invoiced; its corrections are billed in June (BillingPeriodStart 2025-06-01) for
May usage (ChargePeriodStart 2025-05-01T00). Under `restate` May is sent again with them and
June is untouched; under `book_forward` May stays as it was and June carries them at its first
hour. Each scenario is a source on its own connection, so one run sends them all. Totals are
net (the spec's files use "delta" and "ledger" both ways round), summed as Decimal.
"""

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import REPO, Project, printed_words

FIXTURES = REPO / "anycost_pipeline_tests" / "fixtures" / "focus-corrections"
CLOSED = FIXTURES / "closed-billing-period"
OPEN = FIXTURES / "open-billing-period-previous"
S1, S2 = "scenario_1_partial_reallocation", "scenario_2_late_arriving_usage"
S3, S4 = "scenario_3_itemized_cost_only", "scenario_4_bulk_cost_only"

# source → (files, May's net total with its corrections, the corrections' net total)
SCENARIOS: dict[str, tuple[list[Path], str, str]] = {
    "s1_delta": ([CLOSED / f"{S1}_original.csv", CLOSED / f"{S1}_delta.csv"], "1500", "0"),
    "s1_ledger": ([CLOSED / f"{S1}_original.csv", CLOSED / f"{S1}_ledger.csv"], "1500", "0"),
    "s2_delta": ([CLOSED / f"{S2}_delta.csv"], "1500", "1500"),
    "s2_ledger": ([CLOSED / f"{S2}_ledger.csv"], "1500", "1500"),
    "s3_delta": ([CLOSED / f"{S3}_original.csv", CLOSED / f"{S3}_delta.csv"], "4.197398", "0.002"),
    "s4_delta": ([CLOSED / f"{S4}_original.csv", CLOSED / f"{S4}_delta.csv"], "4.197398", "0.002"),
    "s4_ledger": (
        [CLOSED / f"{S4}_original.csv", CLOSED / f"{S4}_ledger.csv"],
        "4.197398",
        "0.002",
    ),
}
OPEN_PERIOD = [OPEN / f"{S1}_original.csv", OPEN / f"{S1}_ledger.csv"]


def _sources(project: Project, scenarios: dict[str, list[Path]], policy: str | None) -> None:
    """One `preset: focus` source per scenario, each on a connection of the same name."""
    config = project.config()
    config["sources"], config["connections"] = {}, {}
    for name, files in scenarios.items():
        folder = project.root / name
        folder.mkdir()
        for file in files:
            shutil.copy(file, folder / file.name)
        source: dict = {"connection": name, "kind": "files", "path": f"{name}/*.csv"}
        source["preset"] = "focus"
        if policy is not None:
            source["corrections"] = {"policy": policy}
        config["sources"][name] = source
        config["connections"][name] = {"connection_id": name}
    project.write_config(config)


def _held(project: Project, connection: str, month: str) -> list[dict]:
    return SandboxStore(project.storage / "sandbox").month_rows(connection, month)


def _total(rows: list[dict]) -> Decimal:
    return sum((Decimal(row["cost/cost"]) for row in rows), Decimal(0))


def test_restate_sends_each_corrected_month_with_its_corrections_and_leaves_june_alone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _sources(project, {name: files for name, (files, _, _) in SCENARIOS.items()}, "restate")
    assert main(["run"]) == 0
    said = printed_words(capsys)
    for name, (_, may, _) in SCENARIOS.items():
        assert _total(_held(project, name, "2025-05")) == Decimal(may), name
        assert _held(project, name, "2025-06") == [], name
    s1 = _held(project, "s1_delta", "2025-05")
    by_resource: dict[str, Decimal] = {}
    for row in s1:
        key = row["resource/id"]
        by_resource[key] = by_resource.get(key, Decimal(0)) + Decimal(row["cost/cost"])
    assert {k: v for k, v in by_resource.items() if v} == {"R-111": 1200, "R-222": 300}
    assert (
        "2 correction rows (+300.00 / −300.00) billed 2025-06 for 2025-05 → restating 2025-05"
        in (said)
    )


def test_book_forward_keeps_may_as_invoiced_and_books_corrections_at_junes_first_hour(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _sources(project, {name: files for name, (files, _, _) in SCENARIOS.items()}, "book_forward")
    assert main(["run"]) == 0
    said = printed_words(capsys)
    for name, (_, may, corrections) in SCENARIOS.items():
        original = Decimal(may) - Decimal(corrections)
        assert _total(_held(project, name, "2025-05")) == original, name
        june = _held(project, name, "2025-06")
        assert june, name
        assert _total(june) == Decimal(corrections), name
        for row in june:
            assert row["time/usage_start"] == "2025-06-01T00:00:00Z"
            assert row["lineitem/description"].startswith("Correction for 2025-05: "), row
            assert not [k for k in row if k.startswith("resource/tag:")]
    assert (
        "2 correction rows (+300.00 / −300.00) billed 2025-06 for 2025-05 → booked in 2025-06"
        in (said)
    )


@pytest.mark.parametrize("policy", ["restate", "book_forward"])
def test_open_period_corrections_are_ordinary_rows_in_the_month_incurred(
    project: Project, policy: str
) -> None:
    _sources(project, {"open_s1": OPEN_PERIOD}, policy)
    assert main(["run"]) == 0
    june = _held(project, "open_s1", "2025-06")
    assert _total(june) == Decimal(1500)
    assert len(june) == 3
    assert all(row["time/usage_start"] == "2025-06-01T00:00:00Z" for row in june)
    assert not any(row.get("lineitem/description", "").startswith("Correction") for row in june)
    assert _held(project, "open_s1", "2025-07") == []


def test_replaying_the_same_files_sends_nothing_the_second_time(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "s1_delta"
    _sources(project, {name: SCENARIOS[name][0]}, "book_forward")
    assert main(["run"]) == 0
    printed_words(capsys)
    store = SandboxStore(project.storage / "sandbox")
    drops = store.drop_history(name)
    assert {d["month"][:7] for d in drops} == {"2025-05", "2025-06"}
    assert main(["run"]) == 0
    said = printed_words(capsys)
    assert store.drop_history(name) == drops
    assert "2025-05: unchanged" in said and "2025-06: unchanged" in said


def test_restate_written_out_is_todays_behaviour_so_the_month_is_unchanged(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source without `corrections` and one with `policy: restate` send the same bytes."""
    name = "s1_ledger"
    _sources(project, {name: SCENARIOS[name][0]}, None)
    assert main(["run"]) == 0
    printed_words(capsys)
    config = project.config()
    config["sources"][name]["corrections"] = {"policy": "restate"}
    project.write_config(config)
    assert main(["run"]) == 0
    assert "2025-05: unchanged" in printed_words(capsys)
    assert len(SandboxStore(project.storage / "sandbox").drop_history(name)) == 1


OCI_HEADER = (
    "lineItem/referenceNo,lineItem/backreferenceNo,lineItem/isCorrection,"
    "lineItem/intervalUsageStart,product/service,cost/myCost,billedMonth\n"
)


def test_oci_rows_with_a_back_reference_but_no_correction_flag_are_ordinary(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """OCI cost reports: `lineItem/isCorrection` marks a correction; the back-reference column
    is filled on ordinary rows too (finopsfoundation/focus_converters' OCI sample), so only the
    flag counts. `billedMonth` stands for the month a row is billed in."""
    folder = project.root / "oci"
    folder.mkdir()
    (folder / "reports_cost.csv").write_text(
        OCI_HEADER + "17028,17001,false,2025-05-03T10:00Z,COMPUTE,10.50,2025-06\n"
        "17029,17002,False,2025-05-04T11:00Z,COMPUTE,2.25,2025-06\n"
        "17030,17028,true,2025-05-03T10:00Z,COMPUTE,-1.50,2025-06\n"
    )
    config = project.config()
    config["sources"] = {
        "oci": {
            "connection": "simple_cloud_main",
            "kind": "files",
            "path": "oci/*.csv",
            "columns": {
                "time/usage_start": "lineItem/intervalUsageStart",
                "cost/cost": "cost/myCost",
                "resource/service": "product/service",
                "lineitem/id": "lineItem/referenceNo",
            },
            "corrections": {
                "policy": "book_forward",
                "detect": {"column": "lineItem/isCorrection", "values": ["true"]},
                "billed_month_column": "billedMonth",
            },
        }
    }
    project.write_config(config)
    assert main(["run"]) == 0
    said = printed_words(capsys)
    may = _held(project, "simple_cloud_main", "2025-05")
    assert sorted(row["lineitem/id"] for row in may) == ["17028", "17029"]
    assert _total(may) == Decimal("12.75")
    june = _held(project, "simple_cloud_main", "2025-06")
    assert [(row["lineitem/id"], row["time/usage_start"]) for row in june] == [
        ("17030", "2025-06-01T00:00:00Z")
    ]
    assert june[0]["lineitem/description"] == "Correction for 2025-05"
    assert "1 correction row (−1.50) billed 2025-06 for 2025-05 → booked in 2025-06" in said


def test_a_correction_whose_billed_month_cannot_be_read_names_file_row_column_and_value(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project.root / "broken"
    folder.mkdir()
    text = (CLOSED / f"{S2}_delta.csv").read_text()
    (folder / "late.csv").write_text(
        text.replace(",2025-06-01T00:00:00Z,2025-07-01", ",soon,2025-07-01")
    )
    config = project.config()
    config["sources"] = {
        "broken": {
            "connection": "simple_cloud_main",
            "path": "broken/*.csv",
            "preset": "focus",
            "corrections": {"policy": "book_forward"},
        }
    }
    project.write_config(config)
    assert main(["run", "2025-06"]) != 0
    said = printed_words(capsys)
    assert "late.csv, row 2, column 'BillingPeriodStart': value 'soon'" in said


def test_a_may_rebuilt_from_the_correction_file_alone_carries_the_original_not_shrunk(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The vendor's retention deleted May's original export; only June's correction file is
    left. Restating May from it alone would leave CloudZero 1 row of May's 7 (the correction
    without the usage it corrects): the original's 6 rows are carried forward, so the month is
    unchanged, and the run says so."""
    files = [CLOSED / f"{S4}_original.csv", CLOSED / f"{S4}_delta.csv"]
    _sources(project, {"s4": files}, "restate")
    assert main(["run", "2025-05"]) == 0
    before = _held(project, "s4", "2025-05")
    assert _total(before) == Decimal("4.197398")
    capsys.readouterr()

    (project.root / "s4" / f"{S4}_original.csv").unlink()
    assert main(["run", "2025-05"]) == 0
    said = printed_words(capsys)
    assert "2025-05: unchanged" in said and "keeps 6 rows, cost 4.195398" in said, said
    assert _held(project, "s4", "2025-05") == before  # nothing was sent
