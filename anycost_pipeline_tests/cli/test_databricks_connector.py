"""`preset: databricks` against a DuckDB database holding Databricks' system.billing.usage and
system.billing.list_prices with their documented columns and types, through `anycost run`: the
month arrives priced at the list price in force at each hour (a price change mid-month), a
correction (RETRACTION and RESTATEMENT) is applied, every row says it is a list price, and a
user's contract rates replace the list prices when given as a rate card."""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, sent_rows

USAGE = """
    record_id VARCHAR, account_id VARCHAR, workspace_id VARCHAR, sku_name VARCHAR,
    cloud VARCHAR, usage_start_time TIMESTAMP, usage_end_time TIMESTAMP, usage_date DATE,
    usage_unit VARCHAR, usage_quantity DECIMAL(38, 18), record_type VARCHAR,
    billing_origin_product VARCHAR
"""
PRICES = """
    price_start_time TIMESTAMP, price_end_time TIMESTAMP, account_id VARCHAR, sku_name VARCHAR,
    cloud VARCHAR, currency_code VARCHAR, usage_unit VARCHAR,
    pricing STRUCT("default" DECIMAL(38, 18), promotional STRUCT("default" DECIMAL(38, 18)),
                   effective_list STRUCT("default" DECIMAL(38, 18)))
"""
JOBS, SQL = "PREMIUM_JOBS_COMPUTE", "PREMIUM_SQL_PRO_COMPUTE_US_EAST"
CHANGE = datetime(2024, 8, 16)  # the jobs SKU's list price changes here
# (sku, start, end or None, price)
LIST_PRICES = [
    (JOBS, datetime(2023, 1, 1), CHANGE, "0.15"),
    (JOBS, CHANGE, None, "0.17"),
    (SQL, datetime(2023, 1, 1), None, "0.55"),
]


def usage() -> list[tuple]:
    """Every sixth hour from 31 July 18:00 to 1 September 06:00, both SKUs; one record of
    10 August is corrected: retracted (negative) and restated."""
    rows = []
    hour = datetime(2024, 7, 31, 18)
    while hour <= datetime(2024, 9, 1, 6):
        n = hour.toordinal() * 24 + hour.hour
        for sku, product, quantity in (
            (JOBS, "JOBS", f"{n % 13}.25"),
            (SQL, "SQL", f"0.{n % 997:03d}"),
        ):
            rows.append(
                (f"r-{sku}-{n}", "acct", "ws-1", sku, "AWS", hour, hour + timedelta(hours=1),
                 hour.date(), "DBU", quantity, "ORIGINAL", product)
            )  # fmt: skip
        hour += timedelta(hours=6)
    wrong = next(r for r in rows if r[5] == datetime(2024, 8, 10, 12) and r[3] == JOBS)
    retraction = (f"{wrong[0]}-x", *wrong[1:9], f"-{wrong[9]}", "RETRACTION", wrong[11])
    restated = (f"{wrong[0]}-r", *wrong[1:9], "2.5", "RESTATEMENT", wrong[11])
    return [*rows, retraction, restated]


def databricks(folder: Path, rows: list[tuple]) -> Path:
    """A DuckDB file with schema `billing` (the URL's catalog is `system` on Databricks)."""
    path = folder / "databricks.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA billing")
        db.execute(f"CREATE TABLE billing.usage ({USAGE})")
        db.execute(f"CREATE TABLE billing.list_prices ({PRICES})")
        db.executemany(f"INSERT INTO billing.usage VALUES ({', '.join('?' * 12)})", rows)
        for sku, start, end, price in LIST_PRICES:
            db.execute(
                "INSERT INTO billing.list_prices VALUES (?, ?, 'acct', ?, 'AWS', 'USD', 'DBU', "
                "{'default': ?, 'promotional': {'default': ?}, 'effective_list': {'default': ?}})",
                [start, end, sku, price, price, price],
            )
    return path


def in_august(rows: list[tuple]) -> list[tuple]:
    return [r for r in rows if datetime(2024, 8, 1) <= r[5] < datetime(2024, 9, 1)]


def list_price(sku: str, at: datetime) -> Decimal:
    return next(
        Decimal(p)
        for s, start, end, p in LIST_PRICES
        if s == sku and start <= at and (end is None or at < end)
    )


@pytest.fixture
def system_tables(project: Project, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    rows = usage()
    monkeypatch.setenv("DATABRICKS_URL", f"duckdb:///{databricks(project.root, rows)}")
    config = project.config()
    config["sources"] = {"databricks": {"connection": CONNECTION, "preset": "databricks"}}
    project.write_config(config)
    return rows


def test_a_month_is_priced_at_the_list_price_of_each_hour_with_corrections_applied(
    project: Project, system_tables: list[tuple], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "2024-08"]) == 0
    assert "2024-08: sent" in printed_words(capsys)
    sent = sent_rows(project, "2024-08")
    august = in_august(system_tables)
    assert len(sent) == len(august)
    expected = sum((Decimal(r[9]) * list_price(r[3], r[5]) for r in august), Decimal(0))
    assert sum((Decimal(r["cost/cost"]) for r in sent), Decimal(0)) == expected
    assert {r["resource/tag:price_basis"] for r in sent} == {"list"}
    corrected = [
        r
        for r in sent
        if r["time/usage_start"] == "2024-08-10T12:00:00Z" and r["resource/id"] == JOBS
    ]
    assert sorted(r["resource/tag:record_type"] for r in corrected) == [
        "ORIGINAL", "RESTATEMENT", "RETRACTION"
    ]  # fmt: skip
    assert sum((Decimal(r["cost/cost"]) for r in corrected), Decimal(0)) == Decimal(
        "2.5"
    ) * Decimal("0.15")


def test_contract_rates_from_a_rate_card_replace_the_list_prices(
    project: Project, system_tables: list[tuple], capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / "contract_rates.csv").write_text(f"sku_name,rate\n{JOBS},0.1125\n{SQL},0.41\n")
    config = project.config()
    config["sources"]["databricks"].update(
        columns={"cost/cost": None, "resource/tag:price_basis": {"value": "contract"}},
        rate_card={
            "quantity": "usage_quantity",
            "match": ["sku_name"],
            "file": "contract_rates.csv",
        },
    )
    project.write_config(config)
    assert main(["run", "2024-08"]) == 0, printed_words(capsys)
    sent = sent_rows(project, "2024-08")
    rates = {JOBS: Decimal("0.1125"), SQL: Decimal("0.41")}
    expected = sum((Decimal(r[9]) * rates[r[3]] for r in in_august(system_tables)), Decimal(0))
    assert sum((Decimal(r["cost/cost"]) for r in sent), Decimal(0)) == expected
    assert {r["resource/tag:price_basis"] for r in sent} == {"contract"}
