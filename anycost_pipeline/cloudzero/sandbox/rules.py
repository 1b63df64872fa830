"""The checks CloudZero applies to a billing drop body, as the sandbox enforces them.

Built only from the facts in `reference.py` (CloudZero's API reference and CBF docs), never
from the project's own CBF code: the sandbox is a second opinion on what the pipeline sends.
"""

import re
from itertools import chain
from operator import itemgetter

from anycost_pipeline.cloudzero.sandbox.reference import (
    AMOUNT,
    AMOUNT_COLUMNS,
    DATE_TIME_COLUMNS,
    DEFAULT_OPERATION,
    ENUM_COLUMNS,
    OPERATIONS,
    REQUIRED_COLUMNS,
    TAG_COLUMN,
    TAG_KEY,
    TAG_PREFIX,
    TAGS_NEED_RESOURCE_ID,
    TEXT_COLUMNS,
    TEXT_COLUMNS_IN_DOCS,
    month_of,
    parse_date_time,
    parse_month,
)

MAX_ERRORS = 20  # a body with many bad rows is answered with the first few reasons
AMOUNT_HINT = "digits with an optional leading '-' and an optional '.' followed by digits"


def body_errors(body: object) -> tuple[str | None, str | None, list[dict], list[str]]:
    """Check a request body; returns (month as YYYY-MM or None, operation, rows, errors)."""
    if not isinstance(body, dict):
        return None, None, [], ["the body must be a JSON object"]
    errors: list[str] = []
    month: str | None = None
    if "month" not in body:
        errors.append("month: required, e.g. 2024-08 or 2024-08-01T00:00:00Z")
    else:
        month, problem = parse_month(body["month"])
        if problem:
            errors.append(f"month: {problem}")
    operation = body.get("operation", DEFAULT_OPERATION)
    if operation not in OPERATIONS:
        errors.append(f"operation: must be one of {', '.join(OPERATIONS)}, got {operation!r}")
        operation = None
    rows = body.get("data")
    if "data" not in body:
        return month, operation, [], errors + ["data: required, a list of rows"]
    if not isinstance(rows, list):
        return month, operation, [], errors + ["data: must be a list of rows"]
    if rows_valid(rows, month):
        return month, operation, rows, errors
    for index, row in enumerate(rows):
        if len(errors) >= MAX_ERRORS:
            errors.append("... more errors not shown")
            break
        errors += [f"data[{index}]: {e}" for e in row_errors(row, month)]
    return month, operation, rows, errors


# Each column's kind, looked up once per value (bodies hold tens of thousands of rows).
_KIND = {
    **{name: "amount" for name in AMOUNT_COLUMNS},
    **{name: "date-time" for name in DATE_TIME_COLUMNS},
    **{name: "enum" for name in ENUM_COLUMNS},
    **{name: "text" for name in TEXT_COLUMNS + TEXT_COLUMNS_IN_DOCS},
}


def row_errors(row: object, month: object) -> list[str]:
    """What is wrong with one CBF row (empty when nothing); `month` is the body's month."""
    if not isinstance(row, dict):
        return ["a row must be a JSON object"]
    errors: list[str] = []
    tagged = False
    for name, value in row.items():
        kind = _KIND.get(name)
        if not isinstance(value, str):
            errors.append(f"{name}: values must be strings, got {value!r}")
        elif kind == "text":
            continue
        elif kind == "amount":
            if not AMOUNT.fullmatch(value):
                errors.append(f"{name}: {value!r} is not a decimal amount ({AMOUNT_HINT})")
        elif kind == "date-time":
            if parse_date_time(value) is None:
                errors.append(
                    f"{name}: {value!r} is not an ISO 8601 date-time like 2024-08-16T13:00:00Z"
                )
        elif kind == "enum":
            if value not in ENUM_COLUMNS[name]:
                allowed = ", ".join(sorted(ENUM_COLUMNS[name]))
                errors.append(f"{name}: {value!r} is not one of {allowed}")
        elif name.startswith(TAG_PREFIX):
            tagged = True
            if not TAG_COLUMN.fullmatch(name):
                errors.append(f"{name}: a tag column needs a key after {TAG_PREFIX!r}")
            elif not TAG_KEY.fullmatch(name[len(TAG_PREFIX) :]):
                errors.append(f"{name}: tag keys may hold letters, digits and _.:/=+-@ only")
        else:
            errors.append(f"{name!r}: not a column of the CBF row schema")
    for name in REQUIRED_COLUMNS:
        if name not in row:
            errors.append(f"{name}: required")
    start = row.get("time/usage_start")
    body_month, _ = parse_month(month)
    if body_month and isinstance(start, str) and parse_date_time(start) is not None:
        held = month_of(start)
        if held != body_month:
            errors.append(
                f"time/usage_start: {start} is in {held} (UTC), outside the month {body_month}"
            )
    if TAGS_NEED_RESOURCE_ID and tagged and not row.get("resource/id"):
        errors.append("resource/id: required when the row has tags")
    return errors


# Amounts of a whole column joined by newlines, matched at once: AMOUNT_PATTERN never matches a
# newline, so the joined text matches exactly when every value does (and none holds a newline
# itself). The same pattern as AMOUNT_PATTERN with possessive quantifiers, ten times faster:
# each part of an amount can be read only one way, so giving up backtracking changes nothing.
_ONE_AMOUNT = r"-?\d++(?:\.\d++)?+"
_AMOUNTS = re.compile(rf"{_ONE_AMOUNT}(?:\n{_ONE_AMOUNT})*+", re.ASCII)


def rows_valid(rows: list, month: object) -> bool:
    """Whether `row_errors` finds nothing in any row, decided column by column.

    The same rules as `row_errors`, applied to each column's values at once (distinct values
    where few are distinct), so a body of valid rows is checked in a fraction of the time. False
    only says that some row may be wrong: the caller then runs `row_errors` row by row, which
    names each problem.
    """
    if set(map(type, rows)) - {dict}:
        return False  # not a JSON object (a dict subclass: left to row_errors)
    names = set(chain.from_iterable(rows))
    tagged = False
    for name in names:
        if name in _KIND:
            continue
        if not (
            isinstance(name, str)
            and name.startswith(TAG_PREFIX)
            and TAG_COLUMN.fullmatch(name)
            and TAG_KEY.fullmatch(name[len(TAG_PREFIX) :])
        ):
            return False
        tagged = True
    if set(map(type, chain.from_iterable(map(dict.values, rows)))) - {str}:
        return False  # a value that is not a string (a str subclass: left to row_errors)
    checked = {
        name: _column(rows, name)
        for name in names
        if _KIND.get(name) in ("amount", "date-time", "enum") or name in REQUIRED_COLUMNS
    }
    for name in REQUIRED_COLUMNS:
        if len(checked.get(name, ())) != len(rows):
            return False
    for name, values in checked.items():
        kind = _KIND.get(name)
        if kind == "amount":
            joined = "\n".join(values)
            if joined.count("\n") != len(values) - 1 or not _AMOUNTS.fullmatch(joined):
                return False
        elif kind == "date-time":
            if any(parse_date_time(value) is None for value in set(values)):
                return False
        elif kind == "enum" and not set(values) <= ENUM_COLUMNS[name]:
            return False
    body_month, _ = parse_month(month)
    if body_month and rows:
        starts = set(checked["time/usage_start"])
        if any(month_of(start) != body_month for start in starts):
            return False
    ids = _column(rows, "resource/id") if tagged else []
    if TAGS_NEED_RESOURCE_ID and tagged and (len(ids) < len(rows) or not all(ids)):
        for row in rows:
            if not row.get("resource/id") and any(name.startswith(TAG_PREFIX) for name in row):
                return False
    return True


def _column(rows: list[dict], name: str) -> list:
    """The values of one column, in row order, from the rows that have it."""
    try:
        return list(map(itemgetter(name), rows))
    except KeyError:
        return [row[name] for row in rows if name in row]
