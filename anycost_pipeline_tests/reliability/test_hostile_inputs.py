"""A corpus of broken and hostile inputs, each run through the whole pipeline for one month.

Every case ends either in a clear failure (a message naming the place and the problem, raised
as a Dagster failure, never a bare traceback) with nothing sent to CloudZero, or in a success
whose sent total is exactly what the case expects (bad rows counted as rejects where the
source tolerates them).
"""

import gzip
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path

import dagster as dg
import pytest
import yaml

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import PACKAGE_DIR
from anycost_pipeline_tests.sources.fake_api import Answer, fake_api

MONTH = "2024-08"
HEADER = "date,service,amount\n"
GOOD = "2024-08-01,Compute,1.50\n2024-08-02,Storage,2.25\n"


@dataclass
class Case:
    """One hostile input and what must come of it."""

    name: str
    files: dict[str, bytes] = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    fails: str | None = None  # regex the failure message must match; None: the month succeeds
    total: str | None = None  # on success: the exact total CloudZero must hold
    rows: int | None = None
    rejects: int = 0
    api: Callable[[object], Answer] | None = None  # an HTTP source's answers
    database: list[tuple[str, str, str]] | None = None  # an SQL source's rows
    sent_columns: tuple[str, ...] = ()  # on success: columns every sent row must carry


def csv(text: str) -> dict[str, bytes]:
    return {"export.csv": text.encode()}


def _http_pages(pages: list[list[dict]]) -> Callable[[object], Answer]:
    def respond(request: object) -> Answer:
        index = int(getattr(request, "query", {}).get("p", "0"))
        more = {"next": f"/usage?p={index + 1}"} if index + 1 < len(pages) else {}
        return Answer(body={"items": pages[index], **more})

    return respond


ROW = {"date": "2024-08-03", "service": "Compute", "amount": "4.75"}

CASES = [
    # A month with no rows that CloudZero holds nothing of: nothing to send, not a failure.
    Case("empty file", {"export.csv": b""}, rows=0),
    Case("header only", csv(HEADER), rows=0),
    Case(
        "missing required column",
        csv("date,service,price\n2024-08-01,Compute,1\n"),
        fails=r"column 'amount'.*not found",
    ),
    Case(
        "unknown extra columns",
        csv("date,service,amount,colour,shape\n2024-08-01,Compute,1.50,red,square\n"),
        total="1.50",
        rows=1,
    ),
    Case(
        "UTF-8 byte-order mark",
        {"export.csv": b"\xef\xbb\xbf" + (HEADER + GOOD).encode()},
        total="3.75",
        rows=2,
    ),
    Case(
        "Latin-1 bytes, declared",
        {"export.csv": (HEADER + "2024-08-01,Caf\xe9 Compute,1.50\n").encode("latin-1")},
        source={"encoding": "latin-1"},
        total="1.50",
        rows=1,
    ),
    Case(
        "Latin-1 bytes, undeclared",
        {"export.csv": (HEADER + "2024-08-01,Caf\xe9 Compute,1.50\n").encode("latin-1")},
        fails=r"export\.csv.*(utf-8|UTF-8|encoding)",
    ),
    Case("CRLF line endings", csv((HEADER + GOOD).replace("\n", "\r\n")), total="3.75", rows=2),
    Case(
        "quoted newlines",
        csv('date,service,amount\n2024-08-01,"Compute\nspecial",1.50\n2024-08-02,Storage,2.25\n'),
        total="3.75",
        rows=2,
    ),
    Case(
        "unparseable date",
        csv(HEADER + "2024-08-01,Compute,1\n31/08/2024,Compute,2\n"),
        fails=r"export\.csv, row 3, column 'date': value '31/08/2024'",
    ),
    Case(
        "ambiguous local time",
        csv("date,service,amount\n2024-11-03 01:30:00,Compute,1\n"),
        source={"timezone": "America/New_York"},
        fails=r"row 2, column 'date': value '2024-11-03 01:30:00'.*(ambiguous|twice)",
    ),
    Case(
        "non-existent local time",
        csv("date,service,amount\n2024-03-10 02:30:00,Compute,1\n"),
        source={"timezone": "America/New_York"},
        fails=r"row 2, column 'date': value '2024-03-10 02:30:00'.*(exist)",
    ),
    Case(
        "currency symbol",
        csv(HEADER + "2024-08-01,Compute,$1.50\n"),
        fails=r"row 2, column 'amount': value '\$1.50'.*currency",
    ),
    Case(
        "thousands separator",
        csv(HEADER + '2024-08-01,Compute,"1,250.00"\n'),
        fails=r"row 2, column 'amount': value '1,250.00'.*thousands",
    ),
    Case(
        "exponent notation",
        csv(HEADER + "2024-08-01,Compute,1.5e-05\n"),
        fails=r"row 2, column 'amount': value '1.5e-05'.*exponent",
    ),
    Case(
        "exponent notation, declared",
        csv(HEADER + "2024-08-01,Compute,1.5e-05\n"),
        source={"exponent": "allow"},
        total="0.000015",
        rows=1,
    ),
    Case(
        "NaN",
        csv(HEADER + "2024-08-01,Compute,NaN\n"),
        fails=r"row 2, column 'amount': value 'NaN'",
    ),
    Case(
        "infinity",
        csv(HEADER + "2024-08-01,Compute,inf\n"),
        fails=r"row 2, column 'amount': value 'inf'",
    ),
    Case(
        "digits of another script",
        csv(HEADER + "2024-08-01,Compute,\u0663.50\n"),
        fails=r"row 2, column 'amount': value '\u0663.50'",
    ),
    Case(
        "very long digits",
        csv(
            HEADER
            + "2024-08-01,Compute,12345678901234567890.123456789012345678901\n2024-08-01,Compute,0.000000000000000000001\n"
        ),
        total="12345678901234567890.123456789012345678902",
        rows=2,
    ),
    Case(
        "negative usage",
        csv("date,service,amount,qty\n2024-08-01,Compute,-1.50,-3\n"),
        source={"columns": {"usage/amount": "qty"}},
        total="-1.50",
        rows=1,
    ),
    Case(
        "rows of another month",
        csv(HEADER + GOOD + "2024-09-01,Compute,100\n2024-07-31,Compute,200\n"),
        total="3.75",
        rows=2,
    ),
    Case(
        "bad rows tolerated as rejects",
        csv(HEADER + GOOD + "2024-08-03,Compute,$9\n"),
        source={"on_bad_rows": "reject"},
        total="3.75",
        rows=2,
        rejects=1,
    ),
    Case(
        "tag keys with spaces",
        csv("date,service,amount,Cost Center\n2024-08-01,Compute,1.50,finance\n"),
        source={
            "tags": {"columns": {"Cost Center": "Cost Center"}},
            "columns": {"resource/id": {"value": "vm-1"}},
        },
        total="1.50",
        rows=1,
        sent_columns=("resource/tag:Cost_Center",),
    ),
    Case(
        "truncated gzip",
        {"export.csv.gz": gzip.compress((HEADER + GOOD * 50).encode())[:60]},
        source={"path": "data/*.csv.gz"},
        fails=r"export\.csv\.gz",
    ),
    Case(
        "invalid JSON",
        {"export.json": b'[{"date": "2024-08-01", "service": "Compute", "amount": "1"},'},
        source={"path": "data/*.json", "format": "json"},
        fails=r"export\.json",
    ),
    Case(
        "invalid NDJSON line",
        {
            "export.ndjson": b'{"date": "2024-08-01", "service": "C", "amount": "1"}\n{"date": oops}\n'
        },
        source={"path": "data/*.ndjson", "format": "ndjson"},
        fails=r"export\.ndjson",
    ),
    Case(
        "monthly fee spread past the row limit",
        csv(HEADER + "".join(f"2024-08-01,S{i},1.00\n" for i in range(1400))),
        source={"spread": {"over": "month"}},
        fails=r"1,000,000",
    ),
    Case(
        "HTTP source answering 500 forever",
        source={"kind": "http", "records": "items", "retries": 2, "backoff_seconds": 0.01},
        api=lambda r: Answer(status=500, body={"error": "boom"}),
        fails=r"500",
    ),
    Case(
        "HTTP source answering HTML",
        source={"kind": "http", "records": "items"},
        api=lambda r: Answer(raw="<html><body>Login</body></html>"),
        fails=r"(JSON|json)",
    ),
    Case(
        "HTTP source with an empty page in the middle",
        source={
            "kind": "http",
            "records": "items",
            "pagination": {"type": "next_link", "next": "next"},
        },
        api=_http_pages([[ROW], [], [ROW | {"amount": "5.25"}]]),
        total="10.00",
        rows=2,
    ),
    Case(
        "SQL source whose query fails",
        source={
            "kind": "sql",
            "query": "SELECT date, service, amount FROM no_such_table WHERE date >= :start AND date < :end",
        },
        database=[("2024-08-01", "Compute", "1.50")],
        fails=r"no_such_table",
    ),
    Case(
        "duplicate keys in one pull of an incremental source",
        csv("id,date,service,amount\n1,2024-08-01,Compute,1.50\n1,2024-08-02,Compute,2.25\n"),
        source={"incremental": True, "key": ["id"]},
        fails=r"share a key",
    ),
]


@contextmanager
def _case_project(root: Path, case: Case) -> Iterator[None]:
    data = root / "data"
    data.mkdir(parents=True)
    for name, content in case.files.items():
        (data / name).write_bytes(content)
    source: dict = {
        "connection": "main",
        "kind": "files",
        "path": "data/*.csv",
        "columns": {
            "time/usage_start": "date",
            "cost/cost": "amount",
            "resource/service": "service",
        },
    }
    columns = case.source.get("columns", {})
    source.update({k: v for k, v in case.source.items() if k != "columns"})
    source["columns"] = {**source["columns"], **columns}
    server = fake_api(case.api) if case.api else nullcontext()
    with server as api:
        if case.api:
            source.pop("path")
            source["url"] = f"{api.url}/usage?p=0"
        if case.database is not None:
            source.pop("path")
            with sqlite3.connect(root / "costs.db") as db:
                db.execute("CREATE TABLE usage (date TEXT, service TEXT, amount TEXT)")
                db.executemany("INSERT INTO usage VALUES (?, ?, ?)", case.database)
            source["url"] = "sqlite:///costs.db"
        config = {
            "storage": ".anycost",
            "start_month": "2024-01",
            "connections": {"main": {"connection_id": "conn-main"}},
            "sources": {"vendor": source},
        }
        (root / "anycost.yaml").write_text(yaml.safe_dump(config))
        yield


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    monkeypatch.setenv("ANYCOST_CONFIG", str(root / "anycost.yaml"))
    with _case_project(root, case):
        defs = dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=PACKAGE_DIR))
        result = defs.resolve_job_def("submit_month").execute_in_process(
            partition_key=MONTH, raise_on_error=False
        )
    held = SandboxStore(root / ".anycost" / "sandbox").month_rows("conn-main", MONTH)
    if case.fails:
        assert not result.success, f"{case.name}: the month should have failed"
        failures = [e for e in result.all_events if e.is_step_failure]
        assert failures, f"{case.name}: no step failed"
        data = failures[0].step_failure_data
        assert data is not None and data.user_failure_data is not None, (
            f"{case.name}: failed with a bare exception: {data.error.message if data and data.error else '?'}"
        )
        message = data.user_failure_data.description or ""
        assert re.search(case.fails, message, re.S), f"{case.name}: unexpected message: {message}"
        assert held == [], f"{case.name}: something was sent for a month that failed"
        return
    assert result.success, f"{case.name}: " + "; ".join(
        (
            e.step_failure_data.user_failure_data.description
            if e.step_failure_data and e.step_failure_data.user_failure_data
            else str(
                e.step_failure_data.error.message
                if e.step_failure_data and e.step_failure_data.error
                else e
            )
        )
        for e in result.all_events
        if e.is_step_failure
    )
    with localcontext(prec=200):  # the default context rounds at 28 digits
        assert sum((Decimal(r["cost/cost"]) for r in held), Decimal(0)) == Decimal(
            case.total or "0"
        )
    assert len(held) == case.rows
    assert all(all(c in r for c in case.sent_columns) for r in held)
    if case.rejects:
        cbf = next(
            m
            for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(["cbf", "vendor"])
        )
        assert cbf.materialization.metadata["rejected_rows"].value == case.rejects


def test_corpus_is_broad_enough() -> None:
    assert len(CASES) >= 25
