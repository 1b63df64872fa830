"""A cost column computed from two source columns (`cost − |discount|`), in YAML alone, through
`anycost dry-run`: files in the shape of CloudZero's own AnyCost example (usage, commitments
and discounts files), mapped without code, and bad operands refused by name."""

import json
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
# The example's mapping (its anycost_example.py), written as anycost.yaml sources.
SOURCES = {
    "usage": {
        "path": "data/cloud_usage.csv",
        "columns": {
            "lineitem/type": {"value": "Usage"},
            "resource/service": "sku",
            "resource/id": {"template": "instance-{instance_id}"},
            "time/usage_start": "usage_date",
            "cost/cost": "cost",
            "cost/discounted_cost": {"add": ["cost"], "subtract": [{"abs": "discount"}]},
        },
    },
    "commitments": {
        "path": "data/cloud_purchase_commitments.csv",
        "columns": {
            "lineitem/type": {"value": "CommittedUsePurchase"},
            "resource/service": {"value": "CommittedUse"},
            "resource/id": {"template": "commit-{commitment_id}"},
            "time/usage_start": "commitment_date",
            "cost/cost": "cost",
            "cost/discounted_cost": "cost",
        },
    },
    "discounts": {
        "path": "data/cloud_discounts.csv",
        "columns": {
            "lineitem/type": {"value": "Discount"},
            "resource/service": "discount_type",
            "resource/id": {"template": "discount-{discount_id}"},
            "time/usage_start": "usage_date",
            "cost/cost": "discount",
            "cost/discounted_cost": "discount",
        },
    },
}


def _project(
    root: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch, **usage: object
) -> None:
    (root / "data").mkdir(parents=True)
    for name, text in files.items():
        (root / "data" / name).write_text(text)
    sources = {n: {"connection": "example", **s} for n, s in SOURCES.items()}
    sources["usage"] = {**sources["usage"], **usage}
    config = {
        "start_month": "2024-09",
        "connections": {"example": {"connection_id": "example"}},
        "sources": sources,
    }
    (root / "anycost.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("ANYCOST_CONFIG", str(root / "anycost.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))


def _sent(root: Path, month: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    assert main(["dry-run", month]) == 0, capsys.readouterr()
    (body,) = (root / ".anycost" / "dry-run" / month / "example").glob("body-*.json")
    return json.loads(body.read_bytes())["data"]


def _as_set(rows: list[dict[str, str]]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted((k, v) for k, v in row.items() if v != "")) for row in rows}


FILES = {
    "cloud_usage.csv": "sku,instance_id,usage_date,cost,discount\n"
    "Compute,0007,2024-09-03T05:00:00Z,10.25,-0.125\n"
    "Compute,0008,2024-09-03T05:00:00Z,3,1.5\n"
    "Storage,0009,2024-09-04T00:00:00Z,0.1,-0.30\n",
    "cloud_purchase_commitments.csv": "commitment_id,commitment_date,cost\n"
    "c-1,2024-09-01T00:00:00Z,120.50\n",
    "cloud_discounts.csv": "discount_type,discount_id,usage_date,discount\n"
    "Loyalty,d-1,2024-09-02T00:00:00Z,-7.5\n",
}
# Worked out by hand: 10.25 − 0.125, 3 − 1.5, 0.1 − 0.30.
EXPECTED = [
    ("Usage", "Compute", "instance-0007", "2024-09-03T05:00:00Z", "10.25", "10.125"),
    ("Usage", "Compute", "instance-0008", "2024-09-03T05:00:00Z", "3", "1.5"),
    ("Usage", "Storage", "instance-0009", "2024-09-04T00:00:00Z", "0.1", "-0.20"),
    (
        "CommittedUsePurchase",
        "CommittedUse",
        "commit-c-1",
        "2024-09-01T00:00:00Z",
        "120.50",
        "120.50",
    ),
    ("Discount", "Loyalty", "discount-d-1", "2024-09-02T00:00:00Z", "-7.5", "-7.5"),
]
NAMES = (
    "lineitem/type",
    "resource/service",
    "resource/id",
    "time/usage_start",
    "cost/cost",
    "cost/discounted_cost",
)


def test_discounted_cost_is_cost_minus_the_absolute_discount_to_the_digit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(tmp_path, FILES, monkeypatch)
    sent = _sent(tmp_path, "2024-09", capsys)
    assert _as_set(sent) == _as_set([dict(zip(NAMES, row)) for row in EXPECTED])


@pytest.mark.parametrize(
    ("discount", "reason"),
    [("n/a", "is not a decimal number"), ("", "is missing"), ("$4", "currency symbol")],
)
def test_a_bad_operand_is_refused_naming_file_row_column_and_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    discount: str,
    reason: str,
) -> None:
    files = {
        **FILES,
        "cloud_usage.csv": FILES["cloud_usage.csv"].replace(",1.5\n", f",{discount}\n"),
    }
    _project(tmp_path, files, monkeypatch)
    assert main(["dry-run", "2024-09"]) == 1
    said = capsys.readouterr()
    text = said.out + said.err
    shown = repr(discount) if discount else "None"  # the CSV reader reads an empty cell as none
    assert f"cloud_usage.csv, row 3, column 'discount': value {shown}" in text, text
    assert reason in text and "Traceback" not in text


def test_an_empty_operand_counts_as_zero_when_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {**FILES, "cloud_usage.csv": FILES["cloud_usage.csv"].replace(",1.5\n", ",\n")}
    spec = {"add": ["cost"], "subtract": [{"abs": "discount"}], "empty": "zero"}
    columns = {**SOURCES["usage"]["columns"], "cost/discounted_cost": spec}  # type: ignore[dict-item]
    _project(tmp_path, files, monkeypatch, columns=columns)
    sent = _sent(tmp_path, "2024-09", capsys)
    row = next(r for r in sent if r["resource/id"] == "instance-0008")
    assert (row["cost/cost"], row["cost/discounted_cost"]) == ("3", "3")


def test_billed_cost_from_list_price_minus_discount_is_sent_and_proved_conserved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """cost/cost itself from two columns: the month's cost is still proved equal to the
    source's (cost_conserved), and a bad operand is kept aside with the rest still adding up."""
    files = {
        **FILES,
        "cloud_usage.csv": FILES["cloud_usage.csv"] + "Compute,0010,2024-09-05T00:00:00Z,9,oops\n",
    }
    columns = {
        **SOURCES["usage"]["columns"],  # type: ignore[dict-item]
        "cost/cost": {"add": ["cost"], "subtract": [{"abs": "discount"}]},
    }
    del columns["cost/discounted_cost"]
    _project(tmp_path, files, monkeypatch, columns=columns, on_bad_rows="reject")
    assert main(["preview", "usage", "2024-09"]) == 0, capsys.readouterr()
    said = capsys.readouterr().out
    # 10.125 + 1.5 − 0.20, worked out by hand; the `oops` row is kept aside.
    assert "3 CBF rows, cost 11.425" in said, said
    assert "cost_conserved passed" in said, said
