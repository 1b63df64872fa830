"""Production shape: the documented deploy/dagster.postgres.yaml on a PostgreSQL server, the
queued run coordinator and a daemon running a backfill of six months on two connections,
several runs at once."""

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline.cloudzero.sandbox.store import DATABASE_NAME
from anycost_pipeline_tests.conftest import REPO
from anycost_pipeline_tests.deploy.daemon import run_failures, wait_for_runs
from anycost_pipeline_tests.servers import postgres_server, production_home, stop

# Six months a connection: with at most four runs at once, runs of one connection overlap.
MONTHS = [f"2024-{m:02d}" for m in range(1, 7)]
CONNECTIONS = {"vendor_a": "conn-a", "vendor_b": "conn-b"}
API_KEY = "cz-test-key-QUEUED-BACKFILL-7f3a"


def _write_project(root: Path) -> dict[tuple[str, str], Decimal]:
    """Two vendors with a file per month; returns the exact cost total per (connection, month)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for vendor, connection_id in CONNECTIONS.items():
        folder = root / "exports" / vendor
        folder.mkdir(parents=True)
        for index, month in enumerate(MONTHS):
            lines = ["day,service,amount"]
            total = Decimal(0)
            for day in range(1, 29):
                amount = Decimal(f"{index + 1}.{day:02d}") + (1 if vendor == "vendor_b" else 0)
                lines.append(f"{month}-{day:02d},Compute,{amount}")
                total += amount
            (folder / f"{month}.csv").write_text("\n".join(lines) + "\n")
            totals[(connection_id, month)] = total
    config = {
        "storage": ".anycost",
        "start_month": "2024-01",
        "cloudzero": {"target": "live"},
        "connections": {f"{v}_main": {"connection_id": c} for v, c in CONNECTIONS.items()},
        "sources": {
            vendor: {
                "connection": f"{vendor}_main",
                "path": f"exports/{vendor}/*.csv",
                "columns": {
                    "time/usage_start": "day",
                    "cost/cost": "amount",
                    "resource/service": "service",
                },
            }
            for vendor in CONNECTIONS
        },
    }
    (root / "anycost.yaml").write_text(yaml.safe_dump(config))
    return totals


def test_queued_backfill_sends_each_month_once_and_never_overlaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the documented production instance file (deploy/dagster.postgres.yaml)."""
    root, home = tmp_path / "project", tmp_path / "dagster_home"
    root.mkdir()
    totals = _write_project(root)
    # Slow answers widen the window in which two requests on one connection could overlap.
    with (
        postgres_server() as pg_url,
        start_sandbox(
            tmp_path / "cloudzero", api_key=API_KEY, faults=Faults(delay=2.0)
        ) as cloudzero,
    ):
        for name, value in production_home(home, pg_url, REPO).items():
            monkeypatch.setenv(name, value)  # this process reads the same instance
        env = {
            **os.environ,
            "ANYCOST_CONFIG": str(root / "anycost.yaml"),
            "CLOUDZERO_API_URL": cloudzero.url,
            "CLOUDZERO_API_KEY": API_KEY,
        }
        bin_dir = Path(sys.executable).parent
        target = ["-m", "anycost_pipeline.definitions"]
        # The deployment step the README documents: set each connection's pool to one request at
        # a time before runs start (Dagster's lazy default-limit set-up races on PostgreSQL).
        for vendor in CONNECTIONS:
            subprocess.run(
                [
                    str(bin_dir / "dagster"),
                    "instance",
                    "concurrency",
                    "set",
                    f"cloudzero_{vendor}_main",
                    "1",
                ],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", *target],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            launched = subprocess.run(
                [
                    str(bin_dir / "dagster"),
                    "job",
                    "backfill",
                    "-j",
                    "submit_month",
                    *target,
                    "--from",
                    MONTHS[0],
                    "--to",
                    MONTHS[-1],
                    "--noprompt",
                ],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert launched.returncode == 0, launched.stderr[-3000:]
            instance = dg.DagsterInstance.from_config(str(home))
            runs, most_in_flight = wait_for_runs(instance, len(MONTHS), seconds=420)
            failures = run_failures(instance, runs)
            # The run history is in PostgreSQL: every month's drop was recorded there.
            recorded = {
                (r.asset_key.path[-1], r.partition_key)
                for vendor in CONNECTIONS
                for r in instance.fetch_materializations(
                    dg.AssetKey(["drop", f"{vendor}_main"]), limit=50
                ).records
            }
            instance.dispose()
        finally:
            stop(daemon, group=True)
        concurrent = cloudzero.store.counter("concurrent_requests")
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}, failures
    assert recorded == {(f"{v}_main", m) for v in CONNECTIONS for m in MONTHS}
    assert most_in_flight >= 2, "the backfill never had two runs in flight; the test proves nothing"
    assert concurrent == 0, (
        f"{concurrent} request(s) arrived while another was in flight on the same connection"
    )
    with sqlite3.connect(tmp_path / "cloudzero" / DATABASE_NAME) as db:
        drops = dict(
            ((c, m), n)
            for c, m, n in db.execute(
                "SELECT connection_id, month, COUNT(*) FROM drops GROUP BY 1, 2"
            )
        )
        held = {
            (c, m): sum(
                (
                    Decimal(r)
                    for (r,) in db.execute(
                        "SELECT json_extract(row, '$.\"cost/cost\"') FROM cbf_rows WHERE connection_id=? AND month=?",
                        (c, m),
                    )
                ),
                Decimal(0),
            )
            for c, m in totals
        }
    assert drops == {key: 1 for key in totals}, "every month must be sent exactly once"
    assert held == totals
