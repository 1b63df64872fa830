"""Costs written as money (`$10,000.00 `, `1.234,56`, `(12.00)`), read through `anycost preview`
with a declared `money_format`: exact, and a value that does not fit is refused by name."""

from decimal import Decimal

import polars as pl
import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

PLAIN_TOTAL = Decimal("1033.51")  # August of the sample project, as its plain files state it
BIG = Decimal("12345.67")


def _us(amount: str) -> str:
    """`-25.00` → `($25.00)`, `12345.67` → `$12,345.67 ` (FOCUS SaaS files end with a space)."""
    value = Decimal(amount)
    text = f"${abs(value):,.2f}"
    return f"({text})" if value < 0 else f"{text} "


def _european(amount: str) -> str:
    """`12345.67` → `12.345,67`; `-25.00` → `-25,00`."""
    value = Decimal(amount)
    grouped = f"{abs(value):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return ("-" if value < 0 else "") + grouped


def _rewrite_amounts(project: Project, write: object) -> None:
    """Every August amount written by `write`, plus one row of 12,345.67 on 15 August."""
    for file in sorted(project.data_dir.glob("simple_cloud_2024-08-*.csv")):
        frame = pl.read_csv(file, infer_schema=False)
        if file.name.endswith("08-15.csv"):
            extra = frame.head(1).with_columns(pl.lit(str(BIG)).alias("amount"))
            frame = pl.concat([frame, extra])
        frame = frame.with_columns(
            pl.col("amount").map_elements(write, return_dtype=pl.String)  # type: ignore[arg-type]
        )
        frame.write_csv(file, quote_style="always")


def _declare(
    project: Project, source_level: dict | None = None, column: dict | None = None
) -> None:
    config = project.config()
    source = config["sources"]["simple_cloud"]
    if source_level is not None:
        source["money_format"] = source_level
    if column is not None:
        source["columns"]["cost/cost"] = {"column": "amount", "money_format": column}
    project.write_config(config)


def _preview(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["preview", "simple_cloud", "2024-08", "--rows", "3"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_dollar_amounts_with_grouping_and_parentheses_are_read_exactly(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite_amounts(project, _us)
    _declare(project, source_level={"symbols": ["$"], "thousands": ",", "parentheses": True})
    code, said = _preview(capsys)
    assert code == 0, said
    assert f"251 CBF rows, cost {PLAIN_TOTAL + BIG}" in said
    credit = next(ln.split() for ln in said.splitlines() if ln.startswith("  Credit"))
    assert credit == ["Credit", "1", "row", "-25.00"], said


def test_anycost_run_sends_dollar_amounts_to_the_digit(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    _rewrite_amounts(project, _us)
    _declare(project, source_level={"symbols": "$", "thousands": ",", "parentheses": True})
    assert main(["run", "2024-08"]) == 0, capsys.readouterr()
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(rows) == 251
    assert sum(Decimal(r["cost/cost"]) for r in rows) == PLAIN_TOTAL + BIG
    assert {r["cost/cost"] for r in rows} >= {"-25.00", "12345.67"}


def test_european_amounts_declared_on_the_cost_column_are_read_exactly(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite_amounts(project, _european)
    _declare(project, column={"thousands": ".", "decimal": ","})
    code, said = _preview(capsys)
    assert code == 0, said
    assert f"251 CBF rows, cost {PLAIN_TOTAL + BIG}" in said


def test_a_value_that_does_not_fit_the_declared_format_is_refused_by_name(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite_amounts(project, _us)
    # Only the one grouped value does not fit: its thousands separator is not a space.
    wrong = {"symbols": "$", "thousands": " ", "parentheses": True}
    _declare(project, column=wrong)
    code, said = _preview(capsys)
    assert code == 1
    assert "1 bad value" in said
    assert "simple_cloud_2024-08-15.csv, row 11, column 'amount': value '$12,345.67 '" in said
    assert "does not fit the declared money format" in said
    assert "Traceback" not in said


def test_parentheses_are_a_minus_only_when_declared(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite_amounts(project, _us)
    _declare(project, source_level={"symbols": ["$"], "thousands": ","})
    code, said = _preview(capsys)
    assert code == 1
    assert "column 'amount': value '($25.00)'" in said
    assert "does not fit the declared money format" in said


def test_a_format_that_cannot_be_read_one_way_is_refused_when_anycost_yaml_loads(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _declare(project, source_level={"thousands": ",", "decimal": ","})
    assert main(["validate"]) == 1
    said = capsys.readouterr()
    text = said.out + said.err
    assert "sources.simple_cloud.money_format" in text
    assert "thousands separator and the decimal separator must differ" in text
    assert "Traceback" not in text
