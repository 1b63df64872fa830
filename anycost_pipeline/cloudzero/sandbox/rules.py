"""The checks CloudZero applies to a billing drop body, as the sandbox enforces them.

Built only from the facts in `reference.py` (CloudZero's API reference and CBF docs), never
from the project's own CBF code: the sandbox is a second opinion on what the pipeline sends.
"""

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
