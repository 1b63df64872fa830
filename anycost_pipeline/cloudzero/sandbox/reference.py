"""CloudZero's AnyCost Stream API as its reference states it: the facts the sandbox answers by.

Source: the OpenAPI document "CloudZero API V2 Resources", version 2.0.0 (the document behind
docs.cloudzero.com/reference), operations createOneAnyCostStreamConnectionBillingDrop,
getAnyCostStreamConnectionBillingDrops, getAnyCostStreamConnectionBillingDropContents and
validateOneAnyCostStreamConnectionBillingDrop (validate billing drop). A fact that comes from
CloudZero's CBF documentation or from our own choice instead says so where it is defined.

This module never imports the project's client or CBF code: the sandbox is the server side of
the contract and must disagree with them when they are wrong.
"""

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal

REFERENCE_TITLE = "CloudZero API V2 Resources"
REFERENCE_VERSION = "2.0.0"

# Paths and the operations behind them.
BASE_PATH = "/v2/connections/billing/anycost"
DROPS_PATH = BASE_PATH + "/{connection_id}/billing_drops"
MONTH_PATH = DROPS_PATH + "/{month}"
VALIDATE_PATH = BASE_PATH + "/validate_billing_drop"
OPERATION_IDS = {
    ("POST", DROPS_PATH): "createOneAnyCostStreamConnectionBillingDrop",
    ("GET", DROPS_PATH): "getAnyCostStreamConnectionBillingDrops",
    ("GET", MONTH_PATH): "getAnyCostStreamConnectionBillingDropContents",
    ("POST", VALIDATE_PATH): "validateOneAnyCostStreamConnectionBillingDrop",
}

# Headers. Authorization carries the raw key (securitySchemes.APIKeyAuth: apiKey in header).
AUTHORIZATION = "Authorization"
IDEMPOTENCY_KEY = "cloudzero-idempotency-key"  # same value, same result, errors included
TEST_KEY = "cloudzero-test-key"  # writes go to a namespace that lasts an hour

# "ISO 8601 datetime string (e.g., 2023-10-26T14:27:46+00:00)": month, time/usage_start,
# time/usage_end. The reference's patterns are ECMA-262 regexes: `\d` is ASCII only and `$` is
# the very end, so they are compiled with re.ASCII and used with fullmatch.
DATE_TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(([+-]\d\d:\d\d)|Z)?$"
DATE_TIME = re.compile(DATE_TIME_PATTERN, re.ASCII)
# The month path parameter's description: "Billing drop month (format YYYY-MM, e.g., 2023-10)";
# the docs' request examples use the same form.
SHORT_MONTH = re.compile(r"^\d{4}-\d\d$", re.ASCII)

# "String representation of a dollar amount": cost/* and usage/amount.
AMOUNT_PATTERN_IN_REFERENCE = r"^\d+(\.\d{1,})?$"
# Widened by an optional leading '-' only: the CBF docs make credits and discounts negative.
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
AMOUNT = re.compile(AMOUNT_PATTERN, re.ASCII)

OPERATIONS = ("replace_drop", "replace_hourly", "sum")
DEFAULT_OPERATION = "replace_drop"

LINE_ITEM_TYPES_IN_REFERENCE = (
    "Usage",
    "Tax",
    "Support",
    "Purchase",
    "CommittedUsePurchase",
    "Discount",
    "Credit",
    "Fee",
    "Adjustment",
)
LINE_ITEM_TYPES_IN_DOCS = ("CommittedUseVacancy", "CommittedUseRecurringFee")  # CBF docs only
LINE_ITEM_TYPES = frozenset(LINE_ITEM_TYPES_IN_REFERENCE + LINE_ITEM_TYPES_IN_DOCS)

# The row schema's properties (every one of type string).
DATE_TIME_COLUMNS = ("time/usage_start", "time/usage_end")
AMOUNT_COLUMNS = (
    "cost/cost",
    "cost/discounted_cost",
    "cost/amortized_cost",
    "cost/discounted_amortized_cost",
    "cost/on_demand_cost",
    "usage/amount",
)
ENUM_COLUMNS = {"lineitem/type": LINE_ITEM_TYPES}
TEXT_COLUMNS = (
    "lineitem/id",
    "lineitem/description",
    "resource/id",
    "resource/service",
    "resource/account",
    "resource/region",
    "resource/usage_family",
    "action/operation",
    "action/usage_type",
    "action/region",
    "action/account",
    "usage/units",
    "bill/invoice_id",
    "k8s/cluster",
    "k8s/namespace",
    "k8s/deployment",
    "k8s/labels",
)
# Listed by the CBF docs' column table (DESIGN.md §3) but not by the reference's row schema,
# which leaves other names open: CloudZero accepts them, so the sandbox does too.
TEXT_COLUMNS_IN_DOCS = ("lineitem/cloud_provider",)
COLUMNS = frozenset(
    DATE_TIME_COLUMNS + AMOUNT_COLUMNS + tuple(ENUM_COLUMNS) + TEXT_COLUMNS + TEXT_COLUMNS_IN_DOCS
)
# patternProperties "resource/tag:.+". The reference leaves other names open (no
# additionalProperties: false); refusing them is our choice, after the CBF docs' column list.
TAG_PREFIX = "resource/tag:"
TAG_COLUMN = re.compile(r"^resource/tag:.+$", re.ASCII | re.DOTALL)
# CBF docs, not the reference: the characters a tag key may hold.
TAG_KEY = re.compile(r"^[A-Za-z0-9_.:/=+\-@]+$", re.ASCII)
REQUIRED_COLUMNS = ("time/usage_start", "cost/cost")
REQUIRED_BODY_FIELDS = ("data",)
# CBF docs: resource/id is required as soon as a row has a tag.
TAGS_NEED_RESOURCE_ID = True

# "An uncompressed request body larger than 5 MB will result in a 413 Request Entity Too
# Large response." 5 MB read as 5,000,000 bytes (DESIGN.md: the hard ceiling).
MAX_BODY_BYTES = 5_000_000


def _deflate_bound(size: int) -> int:
    """zlib's deflateBound: the largest deflate output for `size` bytes of input."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


# Our choice, not the reference's: the most a gzip body may declare before it is refused
# unread. No compression of an acceptable body is larger than deflate's bound plus gzip's
# 18 bytes of header and trailer, so a larger one need not be inflated to be refused.
MAX_GZIP_BYTES = _deflate_bound(MAX_BODY_BYTES) + 18

# Error bodies: 400 and 404 {"error": {"message", "type"}}; 403 and 413 {"message"}.
# 429 and 5xx are not documented for these operations; the sandbox answers them {"message"}.
NESTED_ERROR_STATUSES = frozenset({400, 404})


def error_body(status: int, message: str, kind: str) -> dict:
    """The body of an error answer, in the shape the reference gives that status."""
    if status in NESTED_ERROR_STATUSES:
        return {"error": {"message": message, "type": kind}}
    return {"message": message}


# How an answer spells a month. The reference's schema: an ISO 8601 date-time (default form
# "2025-01-01T00:00:00Z", example "+00:00"); "short" is the YYYY-MM of the docs' examples.
MonthForm = Literal["datetime", "fraction", "offset", "short"]
MONTH_FORMS: dict[str, str] = {
    "datetime": "{month}-01T00:00:00Z",
    "fraction": "{month}-01T00:00:00.000Z",
    "offset": "{month}-01T00:00:00+00:00",
    "short": "{month}",
}


def month_text(month: str, form: MonthForm) -> str:
    """A month key (YYYY-MM) as an answer spells it in the given form."""
    return MONTH_FORMS[form].format(month=month)


def _instant(text: object) -> tuple[datetime, str] | None:
    """(UTC instant, fraction digits) of a value matching the date-time pattern, or None."""
    return _parsed(text) if isinstance(text, str) else None


# Hourly data repeats a few hundred distinct start times across a month's rows.
@lru_cache(maxsize=65536)
def _parsed(text: str) -> tuple[datetime, str] | None:
    if not DATE_TIME.fullmatch(text):
        return None
    rest = text[19:]
    fraction = ""
    if rest.startswith("."):
        end = 1 + len(rest[1:]) - len(rest[1:].lstrip("0123456789"))
        fraction, rest = rest[1:end], rest[end:]
    try:
        zone = timezone.utc
        if rest not in ("", "Z"):
            hours, minutes = int(rest[1:3]), int(rest[4:6])
            if minutes > 59:
                return None
            sign = -1 if rest[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime(
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
            int((fraction + "000000")[:6]),
            tzinfo=zone,
        )
        return moment.astimezone(timezone.utc), fraction
    except (ValueError, OverflowError):
        return None


def parse_date_time(text: object) -> datetime | None:
    """The UTC instant of a value matching the reference's date-time pattern (no offset: UTC).

    None when it does not match or names no real instant (month 13, 25:00, offset +24:00).
    """
    found = _instant(text)
    return found[0] if found else None


def _month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def parse_month(text: object) -> tuple[str | None, str | None]:
    """(YYYY-MM, None) for a month in an accepted form, else (None, why it is refused).

    Accepted: YYYY-MM, or a date-time that is the first instant of a month in UTC.
    """
    if not isinstance(text, str):
        return None, f"must be a string like 2024-08 or 2024-08-01T00:00:00Z, got {text!r}"
    return _parsed_month(text)


@lru_cache(maxsize=1024)
def _parsed_month(text: str) -> tuple[str | None, str | None]:
    if SHORT_MONTH.fullmatch(text):
        if 1 <= int(text[5:7]) <= 12 and int(text[0:4]) >= 1:
            return text, None
        return None, f"{text!r} is not a month"
    found = _instant(text)
    if found is None:
        return None, f"{text!r} is neither YYYY-MM nor a valid ISO 8601 date-time"
    moment, fraction = found
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if moment != start or fraction.strip("0"):
        return None, (
            f"{text!r} is not the start of a month in UTC; send YYYY-MM or the month's "
            "first instant, e.g. 2024-08 or 2024-08-01T00:00:00Z"
        )
    return _month_of(moment), None


@lru_cache(maxsize=65536)
def month_of(text: str) -> str:
    """The UTC month (YYYY-MM) a date-time falls in (the value must parse)."""
    moment = parse_date_time(text)
    if moment is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    return _month_of(moment)


@lru_cache(maxsize=65536)
def utc_hour(text: str) -> str:
    """The UTC hour a date-time falls in, as YYYY-MM-DDTHH:00:00Z (the value must parse)."""
    moment = parse_date_time(text)
    if moment is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    return f"{_month_of(moment)}-{moment.day:02d}T{moment.hour:02d}:00:00Z"
