"""Running `anycost` as a user does, with the live target pointed at a server on 127.0.0.1:
as a process of its own, or in the test's process through the same `main`."""

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from anycost_pipeline.cli import main

ANYCOST = str(Path(sys.executable).parent / "anycost")
KEY = "contract-key-7d2e"


def environment(config: Path, url: str) -> dict[str, str]:
    """The environment of a live run: the key as a Kubernetes secret file holds it (with a
    trailing newline), and a proxy that answers nothing, which loopback calls must not use."""
    return {
        **os.environ,
        "ANYCOST_CONFIG": str(config),
        "DAGSTER_HOME": str(config.parent / "dagster_home"),
        "CLOUDZERO_API_URL": url,
        "CLOUDZERO_API_KEY": KEY + "\n",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }


def anycost(config: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `anycost ARGS` in the project of `config`, sending to `url`."""
    return subprocess.run(
        [ANYCOST, *args],
        cwd=config.parent,
        env=environment(config, url),
        capture_output=True,
        text=True,
        timeout=240,
    )


def anycost_here(
    config: Path, url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`anycost ARGS` through `anycost`'s own `main`, in this process: the same environment (with
    `env`) and working folder as `anycost`, its exit code and words captured. About a
    second less per command than a new process, which only imports and opens the same things
    again: for tests that run many commands in turn. A process of its own (`anycost`) is for
    what only a process shows: its exit, signals, a clock put in by `sitecustomize`."""
    out, err = io.StringIO(), io.StringIO()
    # A process of its own prints a warning logged where no handler is set on stderr (logging's
    # last resort); here pytest's capture on the root logger would take it from the words.
    last_resort = logging.StreamHandler(err)
    last_resort.setLevel(logging.WARNING)
    root = logging.getLogger()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**environment(config, url), **(env or {})}.items():
            patch.setenv(name, value)
        patch.chdir(config.parent)
        root.addHandler(last_resort)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse's own exit on a command line it refuses
                code = exit.code if isinstance(exit.code, int) else 1
            finally:
                root.removeHandler(last_resort)
    return subprocess.CompletedProcess([ANYCOST, *args], code, out.getvalue(), err.getvalue())


def start_anycost(config: Path, url: str, *args: str) -> subprocess.Popen:
    """Start `anycost ARGS` in the project of `config`, sending to `url`, its words discarded:
    for a run that another command or the test meets while it runs."""
    return subprocess.Popen(
        [ANYCOST, *args],
        cwd=config.parent,
        env=environment(config, url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def one_csv_project(
    root: Path,
    csv: str,
    *,
    connection_id: str,
    cloudzero: dict[str, Any],
    time_column: str = "time",
    operation: str = "replace_drop",
) -> Path:
    """A project with one CSV export (`time`, `service`, `amount`, `account`) sent to one
    connection `main`; returns its anycost.yaml."""
    (root / "exports").mkdir(parents=True)
    (root / "exports" / "month.csv").write_text(csv)
    config = {
        "storage": ".anycost",
        "start_month": "2024-01",
        "cloudzero": cloudzero,
        "connections": {"main": {"connection_id": connection_id, "operation": operation}},
        "sources": {
            "vendor": {
                "connection": "main",
                "kind": "files",
                "path": "exports/*.csv",
                "format": "csv",
                "columns": {
                    "time/usage_start": time_column,
                    "cost/cost": "amount",
                    "resource/service": "service",
                    "resource/account": "account",
                },
            }
        },
    }
    path = root / "anycost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def http_source_project(root: Path, api_url: str, *, connection_id: str) -> Path:
    """`one_csv_project` whose source `vendor` is a JSON API instead (`{start}`/`{end}` in the
    URL, records under `data`: `date`, `service`, `cost`); returns its anycost.yaml."""
    config = one_csv_project(root, "", connection_id=connection_id, cloudzero={"target": "live"})
    settings = yaml.safe_load(config.read_text())
    settings["sources"] = {
        "vendor": {
            "connection": "main",
            "kind": "http",
            "url": api_url + "/costs?from={start}&to={end}",
            "records": "data",
            "columns": {
                "time/usage_start": "date",
                "cost/cost": "cost",
                "resource/service": "service",
            },
        }
    }
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return config
