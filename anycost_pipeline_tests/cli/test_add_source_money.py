"""`anycost add-source` on exports that write their costs as money (`$10,000.00 `, `(12.00)`,
`1.234,56`): the format is read from the whole sample and proposed on the cost column when one
reading fits every value; when two readings fit and read different amounts, nothing is chosen
silently (the invoice's total settles it). The preview and a real run then send the amounts
exactly."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.cli.test_add_source import _add_source, _proposed_yaml


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANYCOST_CONFIG", str(tmp_path / "anycost.yaml"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return tmp_path


def _export(folder: Path, amounts: list[str], separator: str = ",") -> str:
    lines = [separator.join(["Date", "Service", "Amount"])]
    for day, amount in enumerate(amounts, start=1):
        quoted = f'"{amount}"' if separator in amount else amount
        lines.append(separator.join([f"2024-08-{day:02d}", "Compute", quoted]))
    (folder / "vendor.csv").write_text("\n".join(lines) + "\n")
    return "vendor.csv"


def _previewed_total(said: str) -> Decimal:
    return Decimal(re.search(r"^Total: (\S+)$", said, re.M).group(1))


@pytest.mark.parametrize(
    ("amounts", "separator", "declared", "total"),
    [
        (
            ["$10,000.00 ", "($12.00)", "$1,234.56", "$0.07", "-$3.00"],
            ",",
            {"symbols": ["$"], "thousands": ",", "parentheses": True},
            "11219.63",
        ),
        (["1.234,56", "12,00", "-0,50", "7"], ";", {"thousands": ".", "decimal": ","}, "1253.06"),
        (["12,50 €", "3,10 €"], ";", {"symbols": ["€"], "decimal": ","}, "15.60"),
    ],
    ids=["dollars", "decimal-comma", "euro-suffix"],
)
def test_money_amounts_get_their_format_proposed_and_arrive_exactly(
    project_dir: Path,
    capsys: pytest.CaptureFixture[str],
    amounts: list[str],
    separator: str,
    declared: dict,
    total: str,
) -> None:
    name = _export(project_dir, amounts, separator)
    code, said = _add_source(project_dir, name, "--write", capsys=capsys)
    assert code == 0, said
    cost = _proposed_yaml(said, "vendor")["columns"]["cost/cost"]
    assert cost == {"column": "Amount", "money_format": declared}
    assert "reads every value one way" in said  # the evidence for the format
    assert _previewed_total(said) == Decimal(total)
    written = yaml.safe_load((project_dir / "anycost.yaml").read_text())
    assert written["sources"]["vendor"]["columns"]["cost/cost"] == cost

    assert main(["run", "2024-08"]) == 0, capsys.readouterr()
    rows = SandboxStore(project_dir / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal(total)
    assert len(rows) == len(amounts)


def test_amounts_that_read_two_ways_are_not_guessed_and_the_invoice_total_settles_them(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,234 is 1234 with a thousands comma and 1.234 with a decimal comma: the sample cannot tell.
    name = _export(project_dir, ["1,234", "5,678"])
    code, said = _add_source(project_dir, name, "--write", capsys=capsys)
    assert code == 1
    words = " ".join(said.split())
    assert "'Amount' reads two ways" in words
    assert 'money_format {thousands: ","} reads 1,234 as 1234 (total 6912)' in words
    assert 'money_format {decimal: ","} reads 1,234 as 1.234 (total 6.912)' in words
    assert "--total" in words and "nothing was written" in words.lower()
    assert not (project_dir / "anycost.yaml").exists()

    code, said = _add_source(project_dir, name, "--total", "6.912", "--write", capsys=capsys)
    assert code == 0, said
    cost = _proposed_yaml(said, "vendor")["columns"]["cost/cost"]
    assert cost == {"column": "Amount", "money_format": {"decimal": ","}}
    assert _previewed_total(said) == Decimal("6.912")


def test_a_column_that_fits_no_money_format_is_still_refused(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _export(project_dir, ["12.50", "twelve"])
    code, said = _add_source(project_dir, name, capsys=capsys)
    assert code == 1
    assert "no column reads as the billed cost" in said


def test_amounts_in_two_currencies_are_not_summed_as_one(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _export(project_dir, ["$12.00", "EUR 3.00"])
    code, said = _add_source(project_dir, name, capsys=capsys)
    assert code == 1 and "15.00" not in said
    assert "no column reads as the billed cost" in said


def test_a_value_past_the_first_rows_that_fits_no_format_is_named_not_misread(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The format is chosen on the first rows of a large file and must read every row."""
    rows = ['2024-08-01,Compute,"$1,234.50"'] * 6_000 + ['2024-08-02,Compute,"1.234,50"']
    (project_dir / "vendor.csv").write_text("Date,Service,Amount\n" + "\n".join(rows) + "\n")
    code, said = _add_source(project_dir, "vendor.csv", "--write", capsys=capsys)
    assert code == 1
    assert "no one money format reads every value of the file" in said
    assert not (project_dir / "anycost.yaml").exists()
