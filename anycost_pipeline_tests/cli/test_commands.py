"""The `anycost` commands as a user types them."""

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project

ANYCOST = str(Path(sys.executable).parent / "anycost")


def _held(project: Project, month: str) -> list[dict]:
    return SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", month)


def test_dry_run_bodies_are_byte_identical_to_a_real_submission(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "bodies"
    assert main(["dry-run", "2024-08", "--out", str(out), "--validate"]) == 0
    printed = capsys.readouterr().out
    assert "Nothing was sent" in printed and "valid" in printed
    assert _held(project, "2024-08") == []  # a dry run sends nothing

    sent: list[tuple[str, bytes]] = []
    original = AnyCostClient.create_billing_drop

    def recording(
        self: AnyCostClient, connection_id: str, body: bytes, idempotency_key: str
    ) -> dict:
        sent.append((idempotency_key, body))
        return original(self, connection_id, body, idempotency_key)

    monkeypatch.setattr(AnyCostClient, "create_billing_drop", recording)
    assert project.materialize_month("2024-08").success

    folder = out / "simple_cloud_main"
    manifest = json.loads((folder / "manifest.json").read_text())
    written = [(folder / e["file"]).read_bytes() for e in manifest["bodies"]]
    assert written == [body for _, body in sent] and len(sent) == 1
    assert manifest["rows"] == 250 == len(_held(project, "2024-08"))


def test_dry_run_says_when_a_connection_would_be_refused_for_its_size(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.config()
    config["cloudzero"]["limits"] = {"rows_per_month": 300}  # each source 250 rows, together 500
    # A second source with files of its own: two sources reading one file are refused.
    shutil.copytree(project.data_dir, project.root / "copy")
    config["sources"]["simple_cloud_copy"] = {
        **config["sources"]["simple_cloud"],
        "path": "copy/*.csv",
    }
    project.write_config(config)
    assert main(["dry-run", "2024-08"]) == 1
    out = capsys.readouterr().out
    assert (
        "WOULD BE REFUSED: 2024-08 has 500 rows, 200 over the limit of 300 rows per connection per month"
        in out
    )
    assert "Nothing was sent" in out and _held(project, "2024-08") == []


def test_delete_month_refuses_without_confirmation_and_empties_with_it(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert project.materialize_month("2024-07").success
    assert project.materialize_month("2024-08").success
    july = len(_held(project, "2024-07"))
    assert july > 0

    assert main(["delete-month", "simple_cloud_main", "2024-08"]) == 1
    error = capsys.readouterr().err
    assert (
        "refusing to empty 2024-08" in error
        and "250 rows" in error
        and "--yes-delete-month" in error
    )
    assert "Traceback" not in error
    assert len(_held(project, "2024-08")) == 250

    assert main(["delete-month", "simple_cloud_main", "2024-08", "--yes-delete-month"]) == 0
    assert "250 rows before, 0 now" in capsys.readouterr().out
    assert _held(project, "2024-08") == []
    assert len(_held(project, "2024-07")) == july  # other months untouched
    drops = {
        d["month"]: d["row_count"]
        for d in SandboxStore(project.storage / "sandbox").drops("simple_cloud_main")
    }
    assert drops == {"2024-07": july, "2024-08": 0}


def test_validate_reports_each_problem_in_one_sentence(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["resource/region"] = "region"
    config["sources"]["extra"] = {**config["sources"]["simple_cloud"], "path": "missing/*.csv"}
    config["cloudzero"]["target"] = "live"
    project.write_config(config)
    monkeypatch.delenv("CLOUDZERO_API_KEY", raising=False)
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "4 problems" in out
    assert (
        "column 'region', used in its `columns` mapping, is missing from simple_cloud_2024-07-01.csv"
        in out
    )
    assert "source 'extra': no file matches" in out and "check `path` in anycost.yaml" in out
    assert "environment variable SIMPLE_CLOUD_CONNECTION_ID is not set" in out
    assert "CLOUDZERO_API_KEY is not set" in out


def test_validate_reads_column_lists_charge_types_and_optional_columns(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    columns = project.config()["sources"]["simple_cloud"]["columns"]
    columns["resource/usage_family"] = {"column": ["family", "service"]}  # one of the two is enough
    columns["lineitem/type"] = {"charge_category": "charge_type"}
    columns["resource/region"] = {"column": "region", "optional": True}
    config = project.config()
    config["sources"]["simple_cloud"]["columns"] = columns
    project.write_config(config)
    assert main(["validate"]) == 0, capsys.readouterr()

    columns["resource/usage_family"] = {"column": ["family", "usage_family"]}
    columns["lineitem/type"] = {"charge_category": "category"}
    config["sources"]["simple_cloud"]["columns"] = columns
    project.write_config(config)
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "column 'family' or 'usage_family', used in its `columns` mapping, is missing" in out
    assert "column 'category', used in its `columns` mapping, is missing" in out
    assert "region" not in out


def test_a_broken_config_is_one_sentence_without_traceback(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.config_file.write_text("start_month: 2024-1\nconnections: {}\n")
    assert main(["validate"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("anycost: ") and "start_month" in error and "Traceback" not in error


def test_readme_commands_run_as_installed(project: Project) -> None:
    """validate, preview, dry-run and sandbox show through the installed `anycost` script."""
    env = {**os.environ, "DAGSTER_HOME": str(project.root / "dagster_home")}

    def anycost(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ANYCOST, *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=120
        )

    validate = anycost("validate")
    assert validate.returncode == 0 and "No problems found" in validate.stdout, validate.stderr
    preview = anycost("preview", "simple_cloud", "2024-08")
    assert preview.returncode == 0, preview.stderr
    assert "250 CBF rows, cost 1033.51" in preview.stdout and "Total: 1033.51" in preview.stdout
    assert "rows_valid passed" in preview.stdout and "reading simple_cloud" in preview.stderr
    # Figures print one way: a whole credit with two places, a count that agrees with its noun.
    credit = next(ln.split() for ln in preview.stdout.splitlines() if ln.startswith("  Credit"))
    assert credit == ["Credit", "1", "row", "-25.00"], preview.stdout
    assert "97.80" in preview.stdout and " 1 rows" not in preview.stdout
    dry = anycost("dry-run", "2024-08")
    assert dry.returncode == 0, dry.stderr
    body = (
        project.storage / "dry-run" / "2024-08" / "simple_cloud_main" / "body-001-replace_drop.json"
    )
    rows = json.loads(body.read_bytes())["data"]
    assert len(rows) == 250 and sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("1033.51")
    shown = anycost("sandbox", "show", "simple_cloud_main", "2024-08")
    assert shown.returncode == 0 and "0 rows" in shown.stdout  # the dry run sent nothing


def test_reconcile_reports_a_month_changed_behind_the_pipelines_back(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    assert main(["run", "2024-08"]) == 0
    assert main(["reconcile", "2024-08", "--contents"]) == 0
    assert "OK   simple_cloud_main" in capsys.readouterr().out

    SandboxStore(project.storage / "sandbox").apply(
        "simple_cloud_main",
        "2024-08",
        "sum",
        [{"time/usage_start": "2024-08-20T05:00:00Z", "cost/cost": "0.49"}],
    )
    assert main(["reconcile", "2024-08", "--contents"]) == 1
    out = capsys.readouterr().out
    assert (
        "DIFF simple_cloud_main" in out
        and "CloudZero holds 251 rows, the last submission sent 250" in out
    )
    assert "CloudZero's cost total is 1034.00, the last submission sent 1033.51" in out

    assert main(["delete-month", "simple_cloud_main", "2024-08", "--yes-delete-month"]) == 0
    assert main(["reconcile", "2024-08"]) == 1
    assert "CloudZero holds 0 rows, the last submission sent 250" in capsys.readouterr().out


def test_preview_shows_the_rows_a_failing_check_names(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["lineitem/type"]["map"]["tax"] = "VAT"
    project.write_config(config)
    assert main(["preview", "simple_cloud", "2024-08", "--rows", "3"]) == 1
    out = capsys.readouterr()
    assert "250 CBF rows, cost 1033.51" in out.out and "rows_valid FAILED" in out.out
    assert (
        "| simple_cloud_2024-08-31.csv | 10 | lineitem/type | VAT | not a CBF line item type |"
        in out.out.replace(str(project.data_dir) + "/", "")
    )
    assert "Traceback" not in out.err and "DagsterAssetCheckFailedError" not in out.err
    # The same decision as the drop: the month is refused, and no body is written for it.
    assert main(["dry-run", "2024-08"]) == 1
    said = capsys.readouterr().out
    assert "`anycost run 2024-08` would refuse this month" in said
    assert "cbf/simple_cloud failed its blocking check rows_valid" in said
    assert "No body was written." in said
    assert not list((project.storage / "dry-run").rglob("body-*.json"))
