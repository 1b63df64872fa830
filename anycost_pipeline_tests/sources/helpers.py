"""Small builders shared by the source tests."""

from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

from anycost_pipeline.cbf.hours import rows_of_month, with_usage_hour
from anycost_pipeline.config import FilesSource, HttpSource, SqlSource
from anycost_pipeline.months import Month

if TYPE_CHECKING:
    from pathlib import Path

    import dagster as dg

    from anycost_pipeline_tests.conftest import Project

COLUMNS = {"time/usage_start": "date", "cost/cost": "cost", "resource/service": "service"}


def files_source(path: str, **options: object) -> FilesSource:
    return FilesSource.model_validate(
        {"connection": "main", "path": path, "columns": COLUMNS, **options}
    )


def http_source(url: str, **options: object) -> HttpSource:
    return HttpSource.model_validate(
        {"connection": "main", "kind": "http", "url": url, "columns": COLUMNS, **options}
    )


def sql_source(url: str, query: str, **options: object) -> SqlSource:
    return SqlSource.model_validate(
        {
            "connection": "main",
            "kind": "sql",
            "url": url,
            "query": query,
            "columns": COLUMNS,
            **options,
        }
    )


def month_of(frame: pl.DataFrame, month: str, time_column: str = "date") -> pl.DataFrame:
    """The rows of a read frame that belong to the month, as the raw asset keeps them."""
    return rows_of_month(
        with_usage_hour(frame, "test", time_column, "UTC", None), Month.parse(month)
    )


def total(frame: pl.DataFrame, column: str = "cost") -> Decimal:
    return sum((Decimal(v) for v in frame.get_column(column).to_list()), Decimal(0))


# Running a month through the real Dagster job, for tests that reproduce what a user sees.

CONNECTION = "simple_cloud_main"  # the example project's connection


def use_files_source(
    project: "Project", name: str, files: dict[str, str], **source: object
) -> None:
    """Replace the example project's sources by one files source reading `files` (name → text)."""
    folder = project.root / "exports" / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    config = project.config()
    config["sources"] = {
        name: {"connection": CONNECTION, "kind": "files", "path": f"exports/{name}/*.csv", **source}
    }
    project.write_config(config)


def sent_rows(project: "Project", month: str) -> list[dict]:
    """The rows the sandbox holds for the month, as CloudZero would."""
    from anycost_pipeline.cloudzero.sandbox import SandboxStore

    return SandboxStore(project.storage / "sandbox").month_rows(CONNECTION, month)


def sent_total(project: "Project", month: str) -> Decimal:
    return sum((Decimal(r["cost/cost"]) for r in sent_rows(project, month)), Decimal(0))


def failure_message(result: "dg.ExecuteInProcessResult") -> str:
    """The description of the run's failed step (what `anycost run` shows)."""
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]


def materialised(result: "dg.ExecuteInProcessResult") -> dict[str, dict]:
    """Asset key → metadata of its materialisation in the run."""
    return {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def stored_rejects(project: "Project", name: str, month: str) -> pl.DataFrame:
    paths = list((project.storage / "frames" / "rejects" / name).glob(f"{month}*"))
    assert len(paths) == 1, paths
    return pl.read_parquet(paths[0])


def readme_source(name: str) -> dict:
    """A source exactly as the README shows it (the YAML block that declares it)."""
    import re
    from pathlib import Path

    import yaml

    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```yaml\n(.*?)```", readme.read_text(), re.S)
    (block,) = [b for b in blocks if f"  {name}:" in b]
    return yaml.safe_load(block)["sources"][name]


def files_holding(project: "Project", secret: str) -> list["Path"]:
    """The project's files (frames, run history with its Dagster events, the sandbox) that hold
    `secret` anywhere in their bytes."""
    return [
        path
        for path in project.root.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
