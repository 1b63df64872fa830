"""`anycost add-source`: a first mapping proposed from a sample export, written and previewed.

Every sample export of the project's fixtures (the FOCUS 1.0 sample, the FOCUS 1.2 scenarios and
the AWS CUR sample) gets a proposal whose preview passes both blocking checks and whose CBF total
is the sample's billed cost for the month, summed here with the csv module and Decimal.
"""

import csv
import gzip
import json
import os
import re
import shutil
import subprocess
from decimal import Decimal, localcontext
from pathlib import Path

import polars as pl
import pytest
import yaml

from anycost_pipeline.cli import main
from anycost_pipeline.config import load_config
from anycost_pipeline_tests.cli.live import ANYCOST, one_csv_project
from anycost_pipeline_tests.cli.test_readme_commands import walkthrough_export
from anycost_pipeline_tests.conftest import Project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLES = sorted([*FIXTURES.glob("focus-1.0/*.csv"), *FIXTURES.glob("focus-1.2/*.csv")]) + sorted(
    FIXTURES.glob("aws-cur/*.csv")
)
# The billed cost and the usage start of each kind of sample, as its specification names them.
FOCUS_COLUMNS = ("BilledCost", "ChargePeriodStart")
CUR_COLUMNS = ("lineItem/UnblendedCost", "lineItem/UsageStartDate")


def _month(text: str) -> str:
    """The UTC month of a sample's time text: ISO (with Z or naive UTC) or FOCUS's M/D/YY."""
    text = text.strip()
    if "/" in text:
        month, _, year = text.split()[0].split("/")
        return f"{'20' + year if len(year) == 2 else year}-{int(month):02d}"
    return text[:7]


def _billed(path: Path, cost: str, time: str, month: str) -> Decimal:
    """The sample's cost for one month, exactly."""
    total = Decimal(0)
    with localcontext() as exact, path.open(encoding="utf-8-sig", newline="") as handle:
        exact.prec = 60
        for row in csv.DictReader(handle):
            if any(row.values()) and _month(row[time]) == month:
                total += Decimal(row[cost])
    return total


def _add_source(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["add-source", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANYCOST_CONFIG", str(tmp_path / "anycost.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return tmp_path


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_sample_gets_a_mapping_whose_preview_passes_and_conserves_its_cost(
    sample: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "exports").mkdir()
    copy = project_dir / "exports" / sample.name
    shutil.copy(sample, copy)
    code, said = _add_source(project_dir, f"exports/{sample.name}", "--write", capsys=capsys)
    assert code == 0, said
    assert re.search(r"rows_valid passed", said) and re.search(r"cost_conserved passed", said)
    config = load_config(project_dir / "anycost.yaml")
    ((name, source),) = config.sources.items()
    focus = sample.parent.name.startswith("focus")
    assert (source.preset == "focus") is focus
    cost, time = FOCUS_COLUMNS if focus else CUR_COLUMNS
    assert source.cost_column == cost and source.time_column == time
    month = config.start_month
    total = Decimal(re.search(r"^Total: (\S+)$", said, re.M).group(1))
    assert total == _billed(copy, cost, time, month)


def test_the_aws_cur_proposal_reads_its_charge_words_context_and_exponents(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = next(FIXTURES.glob("aws-cur/*.csv"))
    code, said = _add_source(project_dir, str(sample), "--name", "aws", capsys=capsys)
    assert code == 0, said
    assert not (project_dir / "anycost.yaml").exists()  # printed, not written
    block = said[said.index("  aws:") :]
    source = yaml.safe_load(block[: block.index("\n\n")])["aws"]
    assert source["exponent"] == "allow"
    columns = source["columns"]
    assert columns["lineitem/type"] == "lineItem/LineItemType"
    assert columns["resource/service"] == "lineItem/ProductCode"
    assert columns["resource/account"] == "lineItem/UsageAccountId"
    assert columns["resource/region"]["column"] == "product/region"
    assert columns["lineitem/id"] == "identity/LineItemId"
    assert columns["usage/amount"] == "lineItem/UsageAmount"
    assert columns["cost/on_demand_cost"] == "pricing/publicOnDemandCost"
    assert "# lineItem/UnblendedCost" in said  # every choice is commented


def test_a_value_the_mapping_refuses_leaves_its_optional_column_out_with_the_reason(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = FIXTURES / "focus-1.2" / "commitment_discount_purchase_scenario_2.csv"
    code, said = _add_source(project_dir, str(sample), "--write", capsys=capsys)
    assert code == 0, said
    text = (project_dir / "anycost.yaml").read_text()
    assert "time/usage_end: null" in text
    assert "2023-02-01T30:00:00Z" in text and "row 4" in text  # why, where


VENDOR = [
    {
        "Usage Date": "31/08/2024",
        "Amount": "12.50",
        "Service": "compute",
        "Account": "acct-1",
        "Charge Type": "usage",
        "Region": "global",
        "Resource ID": "vm-1",
        "Labels": "team=data;env=prod",
    },
    {
        "Usage Date": "01/08/2024",
        "Amount": "-2.25",
        "Service": "compute",
        "Account": "acct-1",
        "Charge Type": "Refund",
        "Region": "eu-west-1",
        "Resource ID": "vm-1",
        "Labels": "team=data",
    },
    {
        "Usage Date": "15/08/2024",
        "Amount": "0.0000000181",
        "Service": "storage",
        "Account": "acct-2",
        "Charge Type": "Subscription Fee",
        "Region": "eu-west-1",
        "Resource ID": "",
        "Labels": "",
    },
    {
        "Usage Date": "15/09/2024",
        "Amount": "100",
        "Service": "storage",
        "Account": "acct-2",
        "Charge Type": "VAT",
        "Region": "eu-west-1",
        "Resource ID": "",
        "Labels": "",
    },
]
VENDOR_AUGUST = Decimal("12.50") + Decimal("-2.25") + Decimal("0.0000000181")


def _write_vendor(path: Path) -> None:
    frame = pl.DataFrame(VENDOR)
    name = path.name
    if name.endswith(".csv.gz"):
        path.write_bytes(gzip.compress(frame.write_csv().encode()))
    elif name.endswith(".parquet"):
        frame.write_parquet(path)
    elif name.endswith(".ndjson"):
        path.write_text("".join(json.dumps(r) + "\n" for r in VENDOR))
    elif name.endswith(".json"):
        path.write_text(json.dumps(VENDOR, indent=2))
    else:
        frame.write_csv(path)


@pytest.mark.parametrize(
    "file", ["vendor.csv.gz", "vendor.parquet", "vendor.ndjson", "vendor.json"]
)
def test_a_vendor_export_in_each_format_is_mapped_from_its_names_and_values(
    file: str, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_vendor(project_dir / file)
    code, said = _add_source(project_dir, file, "--write", capsys=capsys)
    assert code == 0, said
    config = load_config(project_dir / "anycost.yaml")
    source = config.sources["vendor"]
    assert config.start_month == "2024-08"
    assert source.time_column == "Usage Date" and source.time_format == "%d/%m/%Y"
    assert source.cost_column == "Amount"
    columns = {k: v.model_dump(exclude_defaults=True) for k, v in source.columns.items()}
    assert columns["lineitem/type"]["column"] == "Charge Type"
    assert columns["lineitem/type"]["map"] == {
        "Refund": "Credit",
        "Subscription Fee": "Fee",
        "VAT": "Tax",
        "usage": "Usage",
    }
    assert columns["resource/service"] == {"column": "Service"}
    assert columns["resource/account"] == {"column": "Account"}
    assert columns["resource/region"]["map"]["global"] == "no-region"
    assert columns["resource/id"] == {"column": "Resource ID"}
    assert source.tags is not None and source.tags.column == "Labels"
    assert source.tags.format == "pairs"
    assert "rows_valid passed" in said and "cost_conserved passed" in said
    assert Decimal(re.search(r"^Total: (\S+)$", said, re.M).group(1)) == VENDOR_AUGUST


def test_a_source_is_added_to_an_existing_project_and_its_own_commands_read_it(
    tmp_path: Path,
) -> None:
    config = one_csv_project(
        tmp_path,
        "time,service,amount,account\n2024-08-01T00:00:00Z,vm,1.00,a\n",
        connection_id="c-1",
        cloudzero={"target": "sandbox"},
    )
    before = config.read_text()
    # Not under exports/, which the project's source reads: a second source on one file would
    # send it twice, and add-source refuses to write it.
    sample = tmp_path / "focus" / "focus.csv"
    sample.parent.mkdir()
    shutil.copy(FIXTURES / "focus-1.0" / "focus_sample.csv", sample)
    env = {
        **os.environ,
        "ANYCOST_CONFIG": str(config),
        "DAGSTER_HOME": str(tmp_path),
    }

    def anycost(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ANYCOST, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
        )

    printed = anycost("add-source", "focus/focus.csv")
    assert printed.returncode == 0, printed.stderr
    assert config.read_text() == before  # without --write nothing changes
    written = anycost("add-source", "focus/focus.csv", "--write")
    assert written.returncode == 0, written.stderr
    text = config.read_text()
    assert text.startswith(before.rstrip("\n"))  # the user's file is kept as it was
    project = load_config(config)
    assert set(project.sources) == {"vendor", "focus"}
    assert project.sources["focus"].connection == "main"
    preview = anycost("preview", "focus", "2024-09", "--rows", "1")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    billed = _billed(sample, *FOCUS_COLUMNS, "2024-09")
    assert Decimal(re.search(r"^Total: (\S+)$", preview.stdout, re.M).group(1)) == billed
    again = anycost("add-source", "focus/focus.csv", "--write")
    assert again.returncode == 1 and "already has a source 'focus'" in again.stderr


CORPUS = Path(__file__).resolve().parents[1] / "sources" / "propose_corpus"


def _proposed_yaml(said: str, name: str) -> dict:
    block = said[said.index(f"  {name}:") :]
    return yaml.safe_load(block[: block.index("\n\n")])[name]


@pytest.mark.parametrize(
    ("file", "cost", "runner_up", "total"),
    [
        ("github_usage_fully_discounted.csv", "net_amount", "gross_amount (total 87.50)", "0.00"),
        ("price_list_beside_amount.csv", "Amount", "Unit Cost (total 0.064)", "15.60"),
        ("numeric_cost_center.csv", "Amount", "Cost Center (total 9930)", "15.60"),
        ("subtotal_tax_total.csv", "Total", "Subtotal (total 162.50)", "195.00"),
    ],
)
def test_the_billed_amount_is_proposed_with_its_runner_up_and_both_totals(
    file: str,
    cost: str,
    runner_up: str,
    total: str,
    project_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copy(CORPUS / file, project_dir / file)
    code, said = _add_source(project_dir, file, "--name", "vendor", capsys=capsys)
    assert code == 0, said
    assert _proposed_yaml(said, "vendor")["columns"]["cost/cost"] == cost
    assert f"# runner-up: {runner_up}" in said  # in the YAML the user keeps
    assert f"cost/cost: {cost}, total {total}" in said  # in the printed evidence
    assert re.search(r"^Total: (\S+)$", said, re.M).group(1) == total
    assert "CHOOSE" not in said


def test_two_equally_likely_cost_columns_are_put_to_the_user_in_the_output_and_the_yaml(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "cost_and_amount_close.csv", project_dir / "costs.csv")
    code, said = _add_source(project_dir, "costs.csv", "--write", capsys=capsys)
    assert code == 0, said
    question = "CHOOSE cost/cost: Cost (total 15.00) and Amount (total 18.00) are equally likely"
    assert question in said
    assert question in (project_dir / "anycost.yaml").read_text()


def test_the_invoice_total_chooses_the_column_that_reaches_it_exactly(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "cost_and_amount_close.csv", project_dir / "costs.csv")
    code, said = _add_source(project_dir, "costs.csv", "--total", "18.00", capsys=capsys)
    assert code == 0, said
    assert _proposed_yaml(said, "costs")["columns"]["cost/cost"] == "Amount"
    assert "its total is the invoice's total, 18.00" in said and "CHOOSE" not in said
    assert re.search(r"^Total: (\S+)$", said, re.M).group(1) == "18.00"


def test_an_invoice_total_that_the_name_s_choice_misses_names_the_column_that_reaches_it(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "github_usage_fully_discounted.csv", project_dir / "github.csv")
    code, said = _add_source(project_dir, "github.csv", "--total", "87.50", capsys=capsys)
    assert code == 0, said
    assert _proposed_yaml(said, "github")["columns"]["cost/cost"] == "gross_amount"
    assert "net_amount would have been proposed from its name, but its total is 0.00" in said


def test_an_invoice_total_no_column_reaches_is_refused_with_every_candidate_s_total(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "github_usage_fully_discounted.csv", project_dir / "github.csv")
    code, said = _add_source(
        project_dir, "github.csv", "--total", "87.49", "--write", capsys=capsys
    )
    assert code == 1
    assert "no column adds up to the invoice total 87.49" in said
    assert "net_amount 0.00" in said and "gross_amount 87.50" in said
    assert not (project_dir / "anycost.yaml").exists()
    code, said = _add_source(project_dir, "github.csv", "--total", "$87.50", capsys=capsys)
    assert code == 1 and "not a plain decimal amount" in said


@pytest.mark.parametrize(
    ("file", "row", "why"),
    [
        ("total_row_labelled.csv", 4, "Service says 'TOTAL'"),
        (
            "total_row_unlabelled.csv",
            6,
            "its Amount, 11.00, is the sum of every other row's, and it leaves Service, Account blank",
        ),
    ],
)
def test_a_summary_row_is_named_and_nothing_is_written(
    file: str, row: int, why: str, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / file, project_dir / file)
    code, said = _add_source(project_dir, file, "--write", capsys=capsys)
    assert code == 1
    assert f"row {row}: {why}" in said and "nothing was written" in said
    assert "Remove them from the export" in said
    assert "Total:" not in said  # no preview that would count it
    assert not (project_dir / "anycost.yaml").exists()


def test_a_focus_contract_commitment_dataset_is_named_as_not_charges(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "focus_contract_commitment.csv", project_dir / "commitments.csv")
    code, said = _add_source(project_dir, "commitments.csv", "--write", capsys=capsys)
    assert code == 1
    assert "FOCUS Contract Commitment dataset" in said and "no charges to send" in said
    assert "971250" not in said and not (project_dir / "anycost.yaml").exists()


def test_account_resource_and_team_columns_are_proposed_with_why(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CORPUS / "team_account_resource.csv", project_dir / "usage.csv")
    code, said = _add_source(project_dir, "usage.csv", "--write", capsys=capsys)
    assert code == 0, said
    config = load_config(project_dir / "anycost.yaml")
    source = config.sources["usage"]
    assert source.columns["resource/account"].column == "Account"
    assert source.columns["resource/id"].column == "Resource"
    assert source.tags is not None and source.tags.columns == {"team": "Team"}
    text = (project_dir / "anycost.yaml").read_text()
    assert "# Service: its name (service) says service; 2 distinct values: compute, storage" in text
    assert "# Account: its name (account) says account; 2 distinct values: acct-1, acct-2" in text
    assert "resource/tag:team" in said and "rows_valid passed" in said


def test_an_invoice_total_that_only_a_set_aside_column_reaches_is_named_not_taken(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # FOCUS: BilledCost 0.00 (the usage was covered by a commitment), EffectiveCost 1.00.
    sample = FIXTURES / "focus-1.2" / "commitment_discount_usage_scenario_1.csv"
    code, said = _add_source(project_dir, str(sample), "--total", "1.00", capsys=capsys)
    assert code == 1
    assert "EffectiveCost does, but it was set aside (not the bill: an amortised cost" in said
    assert "map cost/cost: EffectiveCost by hand" in said
    code, said = _add_source(project_dir, str(sample), "--total", "0", capsys=capsys)
    assert code == 0, said
    assert "cost/cost: BilledCost, total 0.00" in said
    assert "its total is the invoice's total, 0" in said


def test_the_readme_walkthrough_shows_the_evidence_add_source_prints(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Connect a vendor's CSV in ten minutes") :]
    (shown,) = re.findall(r"```text\n(How each column was chosen.*?)```", section, re.S)
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    export = walkthrough_export(project.root)
    code, said = _add_source(
        project.root, str(export.relative_to(project.root)), "--name", "acme", capsys=capsys
    )
    assert code == 0, said
    assert shown in said
    assert "runner-up: List Cost (USD), total 70.80" in shown
