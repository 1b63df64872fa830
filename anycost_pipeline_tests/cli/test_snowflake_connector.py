"""`preset: snowflake` against a DuckDB database holding Snowflake's
SNOWFLAKE.ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY with its documented columns and types,
through `anycost run`: the month arrives to the last digit, an adjustment as its own type, a
restated day changes exactly that day, and the month is estimated until it settles."""

import re
import textwrap
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import REPO, Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, sent_rows

COLUMNS = """
    organization_name VARCHAR, contract_number DECIMAL(38, 0), account_name VARCHAR,
    account_locator VARCHAR, region VARCHAR, service_level VARCHAR, usage_date DATE,
    usage_type VARCHAR, usage DECIMAL(38, 3), currency VARCHAR, usage_in_currency DECIMAL(38, 2),
    balance_source VARCHAR, billing_type VARCHAR, rating_type VARCHAR, service_type VARCHAR,
    is_adjustment BOOLEAN
"""


def ledger() -> list[tuple]:
    """30 July to 2 September 2024: two accounts, warehouse and storage every day, one
    rebate adjustment (negative) on 20 August."""
    rows = []
    day = date(2024, 7, 30)
    while day <= date(2024, 9, 2):
        n = day.toordinal() % 97
        for account, service, usage, money in (
            ("ANALYTICS", "WAREHOUSE_METERING", f"{n}.125", f"{n * 3}.75"),
            ("ETL", "STORAGE", f"0.{n:03d}", f"{n % 7}.05"),
        ):
            rows.append(
                ("ACME", 4711, account, f"AB{n:05d}", "AWS_US_EAST_1", "Enterprise", day,
                 "compute", usage, "USD", money, "capacity", "consumption", "compute",
                 service, False)
            )  # fmt: skip
        day += timedelta(days=1)
    rows.append(
        ("ACME", 4711, "ANALYTICS", "AB00001", "AWS_US_EAST_1", "Enterprise",
         date(2024, 8, 20), "adjustment", "0.000", "USD", "-12.40", "rebate", "consumption",
         "adjustment", "WAREHOUSE_METERING", True)
    )  # fmt: skip
    return rows


def snowflake(folder: Path, rows: list[tuple]) -> Path:
    """A DuckDB file whose catalog is named SNOWFLAKE, as the view's three-part name needs
    (Snowflake's NUMBER(38, s) is DuckDB's DECIMAL(38, s))."""
    path = folder / "snowflake.duckdb"
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA organization_usage")
        db.execute(f"CREATE TABLE organization_usage.usage_in_currency_daily ({COLUMNS})")
        db.executemany(
            f"INSERT INTO organization_usage.usage_in_currency_daily VALUES ({', '.join('?' * 16)})",
            rows,
        )
    return path


def august(rows: list[tuple]) -> Decimal:
    return sum(
        (Decimal(r[10]) for r in rows if date(2024, 8, 1) <= r[6] < date(2024, 9, 1)), Decimal(0)
    )


@pytest.fixture
def warehouse(project: Project, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    rows = ledger()
    path = snowflake(project.root, rows)
    monkeypatch.setenv("SNOWFLAKE_URL", f"duckdb:///{path}")
    config = project.config()
    config["sources"] = {"snowflake": {"connection": CONNECTION, "preset": "snowflake"}}
    project.write_config(config)
    return rows


def test_a_month_of_snowflake_usage_arrives_exactly(
    project: Project, warehouse: list[tuple], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said
    assert "2024-08 is final: source snowflake: settles 3 days after the month (2024-09-04)" in said
    sent = sent_rows(project, "2024-08")
    assert len(sent) == 31 * 2 + 1
    assert sum((Decimal(r["cost/cost"]) for r in sent), Decimal(0)) == august(warehouse)
    (rebate,) = [r for r in sent if r.get("lineitem/type") == "Adjustment"]
    assert Decimal(rebate["cost/cost"]) == Decimal("-12.40")
    assert rebate["resource/tag:balance_source"] == "rebate"
    storage = next(r for r in sent if r["resource/service"] == "STORAGE")
    assert storage["resource/account"] == "ETL" and storage["resource/region"] == "AWS_US_EAST_1"
    assert storage["resource/tag:currency"] == "USD"


def test_a_restated_day_changes_exactly_that_day(
    project: Project, warehouse: list[tuple], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "2024-08"]) == 0
    before = sent_rows(project, "2024-08")
    # Snowflake restates 12 August's warehouse money (a contract change before month close).
    index = next(
        i for i, r in enumerate(warehouse) if r[6] == date(2024, 8, 12) and r[2] == "ANALYTICS"
    )
    row = list(warehouse[index])
    row[10] = str(Decimal(row[10]) + Decimal("1.01"))
    warehouse[index] = tuple(row)
    snowflake(project.root, warehouse)
    assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"][:10] for r in changed + gone] == ["2024-08-12"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("1.01")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == august(warehouse)
    assert "LATE CHANGE" in printed_words(capsys)  # final since 2024-09-04: said loudly


FOCUS_COLUMNS = {
    "CHARGEPERIODSTART": "TIMESTAMP", "CHARGEPERIODEND": "TIMESTAMP",
    "BILLINGPERIODSTART": "TIMESTAMP", "BILLEDCOST": "DECIMAL(38, 10)",
    "EFFECTIVECOST": "DECIMAL(38, 10)", "LISTCOST": "DECIMAL(38, 10)",
    "CHARGECATEGORY": "VARCHAR", "CHARGECLASS": "VARCHAR", "CHARGEDESCRIPTION": "VARCHAR",
    "SERVICENAME": "VARCHAR", "SERVICECATEGORY": "VARCHAR", "SUBACCOUNTID": "VARCHAR",
    "REGIONID": "VARCHAR", "RESOURCEID": "VARCHAR", "CONSUMEDQUANTITY": "DECIMAL(38, 9)",
    "CONSUMEDUNIT": "VARCHAR", "INVOICEID": "VARCHAR", "SERVICEPROVIDERNAME": "VARCHAR",
    "INVOICEISSUERNAME": "VARCHAR", "COMMITMENTDISCOUNTID": "VARCHAR",
    "COMMITMENTDISCOUNTSTATUS": "VARCHAR",
}  # fmt: skip


def readme_focus_source() -> dict:
    """The README's `snowflake_focus` block, as a user copies it."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("**Snowflake's FOCUS view**") :]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]
    return yaml.safe_load(textwrap.dedent(block))["sources"]["snowflake_focus"]


def test_snowflake_s_focus_view_through_the_focus_preset_as_the_readme_writes_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project.root / "snowflake.duckdb"
    rows = []
    for day in range(29, 64):  # 29 July to 2 September
        start = datetime(2024, 7, 1) + timedelta(days=day - 1)
        for account, service, cost in (
            ("ANALYTICS", "Compute", f"{day}.1250"),
            ("ETL", "Storage", f"0.{day:02d}"),
        ):
            rows.append(
                (start, start + timedelta(days=1), datetime(start.year, start.month, 1), cost,
                 cost, cost, "Usage", None, f"{service} usage", service, service, account,
                 "AWS_US_EAST_1", f"{account}-wh", "1.5", "Credits", "INV-0824", "Snowflake",
                 "Snowflake", None, None)
            )  # fmt: skip
    rows.append(
        (datetime(2024, 8, 20), datetime(2024, 8, 21), datetime(2024, 8, 1), "-25.00", "-25.00",
         "-25.00", "Credit", None, "Rebate", "Compute", "Compute", "ANALYTICS", "AWS_US_EAST_1",
         None, None, None, "INV-0824", "Snowflake", "Snowflake", None, None)
    )  # fmt: skip
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA billing")
        columns = ", ".join(f"{name} {kind}" for name, kind in FOCUS_COLUMNS.items())
        db.execute(f"CREATE TABLE billing.focus_cost_usage_v1_3 ({columns})")
        db.executemany(
            f"INSERT INTO billing.focus_cost_usage_v1_3 VALUES ({', '.join('?' * len(FOCUS_COLUMNS))})",
            rows,
        )
    monkeypatch.setenv("SNOWFLAKE_URL", f"duckdb:///{path}")
    config = project.config()
    config["sources"] = {"snowflake_focus": {**readme_focus_source(), "connection": CONNECTION}}
    project.write_config(config)
    assert main(["run", "2024-08"]) == 0, printed_words(capsys)
    sent = sent_rows(project, "2024-08")
    august = [r for r in rows if r[0].month == 8]
    assert len(sent) == len(august)
    assert sum((Decimal(r["cost/cost"]) for r in sent), Decimal(0)) == sum(
        (Decimal(r[3]) for r in august), Decimal(0)
    )
    (credit,) = [r for r in sent if r.get("lineitem/type") == "Credit"]
    assert Decimal(credit["cost/cost"]) == Decimal("-25.00")
    assert {r["bill/invoice_id"] for r in sent} == {"INV-0824"}
