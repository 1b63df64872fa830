"""The row rules CloudZero applies to a billing drop, as the sandbox enforces them.

Written independently of the project's own CBF code on purpose: the sandbox is a second
opinion on what the pipeline produces.
"""

import re

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
HOUR = re.compile(r"^([0-9]{4}-[0-9]{2})-[0-9]{2}T[0-9]{2}:00:00Z$")
PLAIN_DECIMAL = re.compile(r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
TAG_KEY = re.compile(r"^[A-Za-z0-9_.:/=+\-@]+$")
OPERATIONS = ("replace_drop", "replace_hourly", "sum")
LINE_ITEM_TYPES = {
    "Usage",
    "Tax",
    "Support",
    "Purchase",
    "CommittedUsePurchase",
    "Discount",
    "Credit",
    "Fee",
    "Adjustment",
    "CommittedUseVacancy",
    "CommittedUseRecurringFee",
}
AMOUNTS = {
    "cost/cost",
    "cost/discounted_cost",
    "cost/amortized_cost",
    "cost/discounted_amortized_cost",
    "cost/on_demand_cost",
    "usage/amount",
}
OTHER_COLUMNS = {
    "time/usage_start",
    "time/usage_end",
    "lineitem/type",
    "lineitem/id",
    "lineitem/description",
    "lineitem/cloud_provider",
    "resource/id",
    "resource/service",
    "resource/account",
    "resource/region",
    "resource/usage_family",
    "usage/units",
    "action/operation",
    "action/usage_type",
    "bill/invoice_id",
}
MAX_ERRORS = 20


def body_errors(body: object) -> tuple[str | None, str | None, list[dict], list[str]]:
    """Check a request body; returns (month, operation, rows, errors)."""
    if not isinstance(body, dict):
        return None, None, [], ["the body must be a JSON object"]
    month, operation, rows = (
        body.get("month"),
        body.get("operation", "replace_drop"),
        body.get("data"),
    )
    errors: list[str] = []
    if not isinstance(month, str) or not MONTH.match(month):
        errors.append(f"month must be YYYY-MM, got {month!r}")
    if operation not in OPERATIONS:
        errors.append(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    if not isinstance(rows, list):
        return month, operation, [], errors + ["data must be a list of rows"]
    for index, row in enumerate(rows):
        if len(errors) >= MAX_ERRORS:
            errors.append("... more errors not shown")
            break
        errors += [f"data[{index}]: {e}" for e in row_errors(row, month)]
    return month, operation, rows, errors


def row_errors(row: object, month: object) -> list[str]:
    """What is wrong with one CBF row (empty when nothing)."""
    if not isinstance(row, dict):
        return ["a row must be an object"]
    errors = []
    tagged = False
    for name, value in row.items():
        if name in OTHER_COLUMNS:
            if not isinstance(value, str):
                errors.append(f"{name}: values must be strings, got {value!r}")
        elif not isinstance(value, str):
            errors.append(f"{name}: values must be strings, got {value!r}")
        elif name in AMOUNTS:
            if value and not PLAIN_DECIMAL.match(value):
                errors.append(f"{name}: {value!r} is not a plain decimal")
        elif name.startswith("resource/tag:"):
            tagged = True
            if not TAG_KEY.match(name[len("resource/tag:") :]):
                errors.append(f"{name}: tag keys may hold letters, digits and _.:/=+-@ only")
        elif not name.startswith("k8s/"):
            errors.append(f"{name}: not a CBF column")
    start = row.get("time/usage_start")
    hour = HOUR.match(start) if isinstance(start, str) else None
    if not hour:
        errors.append(
            f"time/usage_start: {start!r} is not an ISO-8601 UTC hour like 2024-08-16T13:00:00Z"
        )
    elif hour.group(1) != month:
        errors.append(f"time/usage_start: {start} is outside the month {month}")
    if not row.get("cost/cost"):
        errors.append("cost/cost: required")
    kind = row.get("lineitem/type", "")
    if kind and kind not in LINE_ITEM_TYPES:
        errors.append(f"lineitem/type: {kind!r} is not a CBF line item type")
    if tagged and not row.get("resource/id"):
        errors.append("resource/id: required when the row has tags")
    return errors
