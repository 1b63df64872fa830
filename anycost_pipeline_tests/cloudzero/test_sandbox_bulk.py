"""The sandbox's fast paths give the answers of its plain ones.

Bodies are read with the text of their rows kept (`parse_body`, against `json.loads`), rows are
checked column by column (`rows_valid`, against `row_errors` row by row) and kept in one part per
drop (against a model of one stored row per row, and against files written before parts).
"""

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.cloudzero.sandbox.parse import parse_body
from anycost_pipeline.cloudzero.sandbox.reference import AMOUNT, utc_hour
from anycost_pipeline.cloudzero.sandbox.rules import MAX_ERRORS, body_errors, row_errors, rows_valid
from anycost_pipeline.cloudzero.sandbox.store import DATABASE_NAME
from anycost_pipeline_tests.cloudzero.test_sandbox_rows import ACCEPTED_DECIMALS, REFUSED_DECIMALS

MONTH = "2024-08"
START = "time/usage_start"
COLUMNS = [
    "time/usage_start",
    "time/usage_end",
    "cost/cost",
    "usage/amount",
    "lineitem/type",
    "resource/id",
    "resource/service",
    "resource/tag:team",
    "resource/tag:a b",  # a space: not a tag key
    "resource/tag:",
    "resource/colour",  # not a column
]
VALUES = {
    "time/usage_start": [
        "2024-08-01T00:00:00Z",
        "2024-08-31T23:00:00Z",
        "2024-08-16T13:30:00+02:00",
        "2024-09-01T00:00:00Z",  # another month
        "2024-07-31T23:00:00-01:00",  # 2024-08-01 in UTC
        "2024-08-16 13:00:00",
        "2024-13-01T00:00:00Z",
    ],
    "cost/cost": ["0", "-3.5", "12.000000", "1e-05", "", "1\n2", ".5", "\u0661"],
    "lineitem/type": ["Usage", "Credit", "Refund", "usage"],
    "resource/id": ["acct/svc/1", "", "x"],
}
TEXT = st.text(st.characters(codec="utf-8"), max_size=6)


@st.composite
def rows(draw: st.DrawFn) -> list:
    """Rows that are mostly valid, with every kind of mistake now and then."""
    out: list = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 30)) == 0:
            out.append(draw(st.sampled_from([[], "row", 1, None])))
            continue
        row: dict = {"time/usage_start": "2024-08-05T10:00:00Z", "cost/cost": "1.5"}
        for name in draw(st.lists(st.sampled_from(COLUMNS), max_size=4, unique=True)):
            row[name] = draw(st.sampled_from(VALUES.get(name, ["Team A", "x"])) | TEXT)
        for name in draw(st.lists(st.sampled_from(COLUMNS[:3]), max_size=1)):
            row.pop(name, None)
        if draw(st.integers(0, 20)) == 0:
            row[draw(st.sampled_from(COLUMNS))] = draw(st.sampled_from([1, 2.5, None, True, []]))
        out.append(row)
    return json.loads(json.dumps(out))  # JSON values only, as a body holds


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.sampled_from([MONTH, "2024-08-01T00:00:00Z", "2024-09", None, "August"]))
def test_column_checks_accept_exactly_what_row_checks_accept(data: list, month: object) -> None:
    assert rows_valid(data, month) == all(not row_errors(r, month) for r in data)


@settings(max_examples=200, deadline=None)
@given(rows())
def test_a_body_gets_the_errors_it_got_row_by_row(data: list) -> None:
    """Every row's errors in order, whole rows at a time, until MAX_ERRORS are listed; then
    one line says there are more (six bad rows can hold more than MAX_ERRORS)."""
    month, operation, held, errors = body_errors({"month": MONTH, "data": data})
    by_row: list[str] = []
    for index, row in enumerate(data):
        if len(by_row) >= MAX_ERRORS:
            by_row.append("... more errors not shown")
            break
        by_row += [f"data[{index}]: {e}" for e in row_errors(row, MONTH)]
    assert (month, operation, held, errors) == (MONTH, "replace_drop", data, by_row)


def test_a_body_with_more_errors_than_are_listed_says_so() -> None:
    """Found by the property above: six rows with 21 errors between them."""
    bad = {START: "2024-09-01T00:00:00Z", "cost/cost": "1e-05", "usage/amount": "x"}
    _, _, _, errors = body_errors({"month": MONTH, "data": [bad] * 7 + [[]]})
    assert len(errors) == 22 and errors[-1] == "... more errors not shown"
    assert "data[7]: a row must be a JSON object" not in errors


LAYOUTS = [
    {},
    {"separators": (",", ":")},
    {"indent": 2},
    {"indent": "\t", "ensure_ascii": False},
    {"separators": (" , ", " : "), "ensure_ascii": False},
]


@settings(max_examples=300, deadline=None)
@given(
    rows(),
    st.sampled_from(LAYOUTS),
    st.sampled_from(["", "  ", "\n"]),
    st.sampled_from(["", "x", ",", "]", " {}", "\x00"]),
    st.booleans(),
)
def test_bodies_read_as_json_loads_reads_them(
    data: list, layout: dict, space: str, tail: str, twice: bool
) -> None:
    body = {"month": MONTH, "data": data}
    text = space + json.dumps(body, **layout) + space
    if twice:  # a key given twice: the last one counts
        text = text.replace('"month"', '"data": [{"a": "1"}], "month"', 1)
    raw = (text + tail).encode("utf-8", "surrogatepass")
    try:
        expected: object = json.loads(raw)
    except ValueError as exc:
        expected = repr(exc)
    try:
        found, text = parse_body(raw)
    except ValueError as exc:
        found, text = repr(exc), None
    assert found == expected
    if text is not None:
        assert isinstance(found, dict) and json.loads(text) == found["data"]


def test_odd_bodies_get_json_loads_value_or_error() -> None:
    for raw in [b"", b"[]", b"{", b'{"data": [1,]}', b'{"data": NaN}', b"\xef\xbb\xbf{}", b"{} {}"]:
        try:
            expected: object = json.loads(raw)
        except ValueError as exc:
            expected = repr(exc)
        try:
            found: object = parse_body(raw)[0]
        except ValueError as exc:
            found = repr(exc)
        assert found == expected, raw


HOURS = [f"2024-08-0{d}T{h:02d}:00:00Z" for d in (1, 2) for h in (0, 5)]
HOURS += ["2024-08-01T02:30:00+02:00", "2024-08-02T05:59:59.5Z"]  # the hours 00 and 05 again


@st.composite
def drops(draw: st.DrawFn) -> list[tuple[str, list[dict]]]:
    out = []
    for n in range(draw(st.integers(1, 5))):
        operation = draw(st.sampled_from(["replace_drop", "replace_hourly", "sum"]))
        hours = draw(st.lists(st.sampled_from(HOURS), max_size=6))  # in any order, repeated
        out.append(
            (
                operation,
                [{"time/usage_start": h, "cost/cost": f"{n}.{i}"} for i, h in enumerate(hours)],
            )
        )
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drops(), st.booleans())
def test_parts_hold_what_one_stored_row_per_row_held(
    tmp_path_factory: pytest.TempPathFactory, sequence: list[tuple[str, list[dict]]], as_sent: bool
) -> None:
    store = SandboxStore(tmp_path_factory.mktemp("parts"))
    model: list[tuple[str, dict]] = []  # (hour, row) in insertion order, as rows were stored
    for operation, data in sequence:
        store.apply("c", MONTH, operation, data, json.dumps(data, indent=1) if as_sent else None)
        if operation == "replace_drop":
            model = []
        elif operation == "replace_hourly":
            model = [(h, r) for h, r in model if h not in {utc_hour(r[START]) for r in data}]
        model += [(utc_hour(r[START]), r) for r in data]
    # Read back by hour, then in the order the rows arrived.
    expected = [pair for _, pair in sorted(enumerate(model), key=lambda p: (p[1][0], p[0]))]
    assert store.month_rows("c", MONTH) == [r for _, r in expected]
    canonical = [json.dumps(r, sort_keys=True, separators=(",", ":")) for _, r in expected]
    assert store.month_row_texts("c", MONTH) == canonical
    assert store.month_rows("c", MONTH) == [r for _, r in expected]
    assert store.drops("c") == [
        {"drop_id": store.drop_history("c")[-1]["drop_id"], "month": MONTH, "row_count": len(model)}
    ]


def test_a_row_deleted_through_the_cbf_rows_view_is_gone(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path)
    data = [{"time/usage_start": HOURS[0], "cost/cost": str(i)} for i in range(3)]
    store.apply("c", MONTH, "replace_drop", data)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.execute("""DELETE FROM cbf_rows WHERE json_extract(row, '$."cost/cost"') = '1'""")
    assert [r["cost/cost"] for r in store.month_rows("c", MONTH)] == ["0", "2"]
    assert store.drops("c")[0]["row_count"] == 2
    store._db().execute("DELETE FROM cbf_rows")
    assert store.month_rows("c", MONTH) == [] and store.drops("c")[0]["row_count"] == 0


OLD_SCHEMA = """
CREATE TABLE cbf_rows (
    connection_id TEXT NOT NULL, month TEXT NOT NULL, hour TEXT NOT NULL, row TEXT NOT NULL
);
CREATE INDEX cbf_rows_month ON cbf_rows (connection_id, month, hour);
CREATE TABLE drops (
    drop_id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, month TEXT NOT NULL,
    operation TEXT NOT NULL, row_count INTEGER NOT NULL, received_at TEXT NOT NULL
);
"""


def test_a_file_from_before_parts_keeps_its_rows_in_order(tmp_path: Path) -> None:
    rows = [(HOURS[1], '{"cost/cost":"2","time/usage_start":"%s"}' % HOURS[1])]
    rows += [
        (HOURS[0], '{"cost/cost":"%d","time/usage_start":"%s"}' % (i, HOURS[0])) for i in (1, 0)
    ]
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO cbf_rows VALUES ('c', ?, ?, ?)", [(MONTH, h, r) for h, r in rows]
        )
        db.execute("INSERT INTO drops VALUES ('d1', 'c', ?, 'replace_drop', 3, 'then')", (MONTH,))
    store = SandboxStore(tmp_path)
    assert store.month_row_texts("c", MONTH) == [rows[1][1], rows[2][1], rows[0][1]]
    assert store.drops("c") == [{"drop_id": "d1", "month": MONTH, "row_count": 3}]
    assert SandboxStore(tmp_path).month_rows("c", MONTH)[0]["cost/cost"] == "1"  # opened again


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(st.sampled_from("0123456789.-\n +e\u0661"), max_size=8), max_size=5))
def test_amounts_checked_at_once_are_the_amounts_the_reference_accepts(amounts: list[str]) -> None:
    data = [{START: "2024-08-05T10:00:00Z", "cost/cost": a} for a in amounts]
    assert rows_valid(data, MONTH) == all(AMOUNT.fullmatch(a) for a in amounts)


def test_the_listed_decimal_forms_are_judged_as_the_reference_judges_them() -> None:
    for value in REFUSED_DECIMALS + ACCEPTED_DECIMALS:
        data = [{START: "2024-08-05T10:00:00Z", "cost/cost": value}]
        assert rows_valid(data, MONTH) == (AMOUNT.fullmatch(value) is not None), value
