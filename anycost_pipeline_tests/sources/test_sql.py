"""The sql kind against real SQLite and DuckDB databases."""

import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from anycost_pipeline import sources
from anycost_pipeline.config import load_config
from anycost_pipeline.months import Month
from anycost_pipeline.sources.sql import SourceSqlError, read_month
from anycost_pipeline_tests.sources.helpers import month_of, sql_source, total

ROWS = [
    ("2024-07-31 23:00:00", "Compute", "99.99"),
    ("2024-08-01 00:00:00", "Compute", "0.000000001"),
    ("2024-08-15 12:30:00", "Storage", "12345678901.123456789"),
    ("2024-08-31 23:59:59", "Network", "-0.5"),
    ("2024-09-01 00:00:00", "Compute", "1000"),
]
AUGUST_TOTAL = Decimal("0.000000001") + Decimal("12345678901.123456789") + Decimal("-0.5")
QUERY = "SELECT usage_time AS date, service, cost FROM costs WHERE usage_time >= :start AND usage_time < :end ORDER BY usage_time"


def test_sqlite_query_with_the_month_bound(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE costs (usage_time TEXT, service TEXT, cost TEXT)")
        db.executemany("INSERT INTO costs VALUES (?, ?, ?)", ROWS)
    frame = read_month(
        "vendor", sql_source(f"sqlite:///{path}", QUERY), f"sqlite:///{path}", Month(2024, 8)
    )
    assert len(frame) == 3 and total(frame) == AUGUST_TOTAL
    assert len(month_of(frame, "2024-08")) == 3
    assert frame.get_column("_source_row").to_list() == [1, 2, 3]


def test_duckdb_decimal_and_timestamp_columns(tmp_path: Path) -> None:
    path = tmp_path / "costs.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE costs (usage_time TIMESTAMP, service VARCHAR, cost DECIMAL(38, 9))"
        )
        db.executemany("INSERT INTO costs VALUES (?, ?, ?)", ROWS)
    query = QUERY.replace(":start", "CAST(:start AS TIMESTAMP)").replace(
        ":end", "CAST(:end AS TIMESTAMP)"
    )
    frame = read_month(
        "vendor", sql_source(f"duckdb:///{path}", query), f"duckdb:///{path}", Month(2024, 8)
    )
    assert len(frame) == 3 and total(frame) == AUGUST_TOTAL
    # Plain decimal text with the column's scale, never exponent notation.
    assert frame.get_column("cost").to_list() == [
        "0.000000001",
        "12345678901.123456789",
        "-0.500000000",
    ]
    assert frame.get_column("date").to_list()[0] == "2024-08-01T00:00:00"
    assert len(month_of(frame, "2024-08")) == 3


def test_relative_database_path_and_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(tmp_path / "costs.db") as db:
        db.execute("CREATE TABLE costs (usage_time TEXT, service TEXT, cost TEXT)")
        db.executemany("INSERT INTO costs VALUES (?, ?, ?)", ROWS)
    (tmp_path / "anycost.yaml").write_text(
        "start_month: 2024-01\nconnections: {main: {connection_id: x}}\nsources:\n"
        f"  local: {{connection: main, kind: sql, url: 'sqlite:///costs.db', query: '{QUERY}', columns: {{time/usage_start: date, cost/cost: cost}}}}\n"
        f"  shared: {{connection: main, kind: sql, url: 'env:COSTS_DB', query: '{QUERY}', columns: {{time/usage_start: date, cost/cost: cost}}}}\n"
    )
    config = load_config(tmp_path / "anycost.yaml")
    monkeypatch.setenv("COSTS_DB", f"sqlite:///{tmp_path / 'costs.db'}")
    for name in ("local", "shared"):
        assert (
            total(sources.read_month(name, config.sources[name], config, Month(2024, 8)))
            == AUGUST_TOTAL
        )
    monkeypatch.delenv("COSTS_DB")
    with pytest.raises(sources.ConfigError, match="COSTS_DB"):
        sources.read_month("shared", config.sources["shared"], config, Month(2024, 8))


def test_an_empty_month_maps_to_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE costs (usage_time TEXT, service TEXT, cost TEXT)")
    frame = read_month(
        "vendor", sql_source(f"sqlite:///{path}", QUERY), f"sqlite:///{path}", Month(2024, 8)
    )
    assert len(month_of(frame, "2024-08")) == 0


def test_query_errors_name_the_database(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    sqlite3.connect(path).close()
    with pytest.raises(
        SourceSqlError, match=r"the query failed on sqlite:///.*costs\.db: no such table: costs"
    ):
        read_month(
            "vendor", sql_source(f"sqlite:///{path}", QUERY), f"sqlite:///{path}", Month(2024, 8)
        )
    with pytest.raises(ValueError, match=":start and :end"):
        sql_source(f"sqlite:///{path}", "SELECT * FROM costs")


def test_other_databases_go_through_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE costs (usage_time TEXT, service TEXT, cost TEXT)")
        db.executemany("INSERT INTO costs VALUES (?, ?, ?)", ROWS)
    url = f"sqlite+pysqlite:///{path}"  # a dialect+driver URL, as for PostgreSQL or Snowflake
    frame = read_month("vendor", sql_source(url, QUERY), url, Month(2024, 8))
    assert len(frame) == 3 and total(frame) == AUGUST_TOTAL


# A database that refuses the connection at once: nothing listens on port 1 of this machine.
SECRET_URLS = [
    ("postgresql+psycopg2://etl:p@ss@w0rd!@127.0.0.1:1/costs", ["p@ss@w0rd!", "ss@w0rd", "w0rd!"]),
    (
        "postgresql+psycopg2://etl@127.0.0.1:1/costs?password=hunter2&sslmode=disable",
        ["hunter2"],
    ),
    ("postgresql+psycopg2://etl:a:b/c?d@127.0.0.1:1/costs", ["a:b/c?d", "b/c?d", "c?d"]),
    (
        "postgresql+psycopg2://127.0.0.1:1/costs?user=etl&PWD=s3cr3t&token=t0k3n",
        ["s3cr3t", "t0k3n"],
    ),
    (
        "postgresql+psycopg2://127.0.0.1:1/costs?user=etl&credentials_base64=eyJ0eXBlIjoiX3Nh",
        ["eyJ0eXBlIjoiX3Nh"],
    ),
]


@pytest.mark.parametrize(("url", "secrets"), SECRET_URLS)
def test_a_failing_database_never_shows_its_password(
    project, monkeypatch: pytest.MonkeyPatch, url: str, secrets: list[str]
) -> None:
    from anycost_pipeline_tests.sources.helpers import CONNECTION, failure_message

    monkeypatch.setenv("COSTS_DB_URL", url)
    config = project.config()
    config["sources"] = {
        "warehouse": {
            "connection": CONNECTION,
            "kind": "sql",
            "url": "env:COSTS_DB_URL",
            "query": QUERY,
            "columns": {"time/usage_start": "date", "cost/cost": "cost"},
        }
    }
    project.write_config(config)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "postgresql+psycopg2://" in message and "127.0.0.1" in message
    for secret in secrets:
        assert secret not in message, message
    assert all(secret not in str(e) for e in result.all_events for secret in secrets)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://etl:p@ss@db.internal:5432/costs",
            "postgresql://etl:***@db.internal:5432/costs",
        ),
        ("postgresql://etl@db.internal/costs", "postgresql://etl@db.internal/costs"),
        ("mssql+pyodbc://dsn?user=me@corp.example", "mssql+pyodbc://dsn?user=me@corp.example"),
        (
            "snowflake://etl:pw@acct/db?warehouse=wh&password=x&Secret=y",
            "snowflake://etl:***@acct/db?warehouse=wh&password=***&Secret=***",
        ),
        ("sqlite:///costs.db", "sqlite:///costs.db"),
        (
            "bigquery://proj/billing?credentials_base64=eyJ0eXBlIjoi&location=EU&sslmode=require",
            "bigquery://proj/billing?credentials_base64=***&location=EU&sslmode=require",
        ),
        (
            "mssql+pyodbc://dsn?odbc_connect=DRIVER%3Dx%3BPWD%3Ds3",
            "mssql+pyodbc://dsn?odbc_connect=***",
        ),
    ],
)
def test_safe_url_hides_passwords_and_keeps_the_rest(url: str, shown: str) -> None:
    from anycost_pipeline.sources.sql import safe_url

    assert safe_url(url) == shown
