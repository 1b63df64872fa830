"""A stand-in for Twilio's daily usage records on 127.0.0.1, written from Twilio's reference
("REST API: Usage Records" and its OpenAPI description, ListUsageRecordDaily), not from our
connector:

- `GET /2010-04-01/Accounts/{AccountSid}/Usage/Records/Daily.json` with HTTP Basic auth, the
  Account SID and its auth token; else 401 (error 20003, whose message echoes the SID given);
- `Category`, `StartDate` (on or after) and `EndDate` (on or before: inclusive), YYYY-MM-DD;
  `PageSize` (default 50, at most 1000), `Page`, `PageToken`;
- categories overlap: the ledger holds leaf usage (`calls-inbound`, `sms-outbound`, ...), and a
  parent (`calls`, `sms`) is the sum of its children, `totalprice` the sum of everything.
  Without `Category` every category is listed, parents beside their children, one record each
  per day;
- `{usage_records: [...], first_page_uri, next_page_uri, previous_page_uri, page, page_size,
  start, end, uri}`, the URIs relative to the host, `next_page_uri` null on the last page;
- a record per category and day, with a price of 0 on a day without usage; `price` a JSON
  string on some days and a number on others, `price_unit` `usd`;
- one answer 429 with `Retry-After` when the test asks for it.
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from email.message import Message
from functools import partial
from urllib.parse import urlencode

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

PARENTS = {"calls": "calls-", "sms": "sms-", "phonenumbers": "phonenumbers-"}


@dataclass(frozen=True)
class Usage:
    """One day's priced usage of one leaf category, as Twilio's ledger holds it."""

    day: str  # YYYY-MM-DD, GMT
    category: str  # a leaf: calls-inbound, sms-outbound, phonenumbers-local, ...
    count: int
    price: str  # "1.2345"


@dataclass
class TwilioStandIn:
    url: str
    sid: str
    token: str
    usage: list[Usage]
    seen: list[Seen] = field(default_factory=list)
    throttle_request: int | None = None
    retry_after: str = "1"


def _error(status: int, code: int, message: str) -> tuple[int, str]:
    return status, json.dumps(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )


def _categories(usage: list[Usage]) -> list[str]:
    leaves = sorted({u.category for u in usage})
    return ["totalprice", *PARENTS, *leaves]


def _in(usage: Usage, category: str) -> bool:
    """Whether a leaf's usage counts in `category`: itself, its parent, or the total."""
    prefix = PARENTS.get(category)
    return (
        category == "totalprice"
        or usage.category == category
        or (prefix is not None and usage.category.startswith(prefix))
    )


def _answer(
    api: TwilioStandIn, path: str, query: dict[str, list[str]], auth: str | None
) -> tuple[int, str]:
    sid, _, token = base64.b64decode((auth or "").removeprefix("Basic ")).decode().partition(":")
    if not (auth or "").startswith("Basic ") or (sid, token) != (api.sid, api.token):
        return _error(401, 20003, f"Authenticate: {sid} could not be authenticated")
    if path != f"/2010-04-01/Accounts/{api.sid}/Usage/Records/Daily.json":
        return _error(404, 20404, f"The requested resource {path} was not found")
    one = {k: v[-1] for k, v in query.items()}
    try:
        start = date.fromisoformat(one["StartDate"])
        end = date.fromisoformat(one["EndDate"])
        size = int(one.get("PageSize", "50"))
        page = int(one.get("Page", "0"))
    except (KeyError, ValueError):
        return _error(400, 20001, "StartDate and EndDate are YYYY-MM-DD")
    if not 1 <= size <= 1000:
        return _error(400, 20001, "PageSize is 1 to 1000")
    categories = [one["Category"]] if "Category" in one else _categories(api.usage)
    records = []
    day = start
    while day <= end:  # EndDate is inclusive
        for category in categories:
            records.append((day.isoformat(), category))
        day += timedelta(days=1)
    if one.get("PageToken", f"PA{page}") != f"PA{page}":
        return _error(400, 20001, "PageToken does not match Page")
    chosen = records[page * size : (page + 1) * size]
    base = {k: v for k, v in one.items() if k not in ("Page", "PageToken")}
    more = (page + 1) * size < len(records)
    following = {**base, "Page": str(page + 1), "PageToken": f"PA{page + 1}"}
    body = [
        _record(api, day, category, n)
        for n, (day, category) in enumerate(chosen, start=page * size)
    ]
    return 200, (
        '{"usage_records": [' + ", ".join(body) + "], "
        f'"first_page_uri": {json.dumps(path + "?" + urlencode({**base, "Page": "0"}))}, '
        f'"next_page_uri": {json.dumps(path + "?" + urlencode(following)) if more else "null"}, '
        '"previous_page_uri": null, '
        f'"page": {page}, "page_size": {size}, "start": {page * size}, '
        f'"end": {page * size + len(chosen) - 1}, "uri": {json.dumps(path)}}}'
    )


def _record(api: TwilioStandIn, day: str, category: str, number: int) -> str:
    mine = [u for u in api.usage if u.day == day and _in(u, category)]
    price = sum((Decimal(u.price) for u in mine), Decimal(0))
    count = sum(u.count for u in mine)
    written = json.dumps(str(price)) if number % 2 else str(price)  # a string, or a number
    return (
        "{"
        f'"account_sid": "{api.sid}", "api_version": "2010-04-01", '
        f'"as_of": "2024-09-03T02:00:00+00:00", "category": {json.dumps(category)}, '
        f'"count": "{count}", "count_unit": "", '
        f'"description": {json.dumps(category.replace("-", " ").title())}, '
        f'"start_date": "{day}", "end_date": "{day}", "price": {written}, "price_unit": "usd", '
        f'"usage": "{count}", "usage_unit": "", "uri": "/x", "subresource_uris": {{}}'
        "}"
    )


@contextmanager
def twilio_api(
    sid: str, token: str, usage: list[Usage], **options: object
) -> Iterator[TwilioStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = TwilioStandIn("", sid, token, usage, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: TwilioStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if number == api.throttle_request:
        throttled = _error(429, 20429, "Too Many Requests")
        return (*throttled, {**headers, "Retry-After": api.retry_after})
    return (*_answer(api, path, query, asked.get("Authorization")), headers)


def august_usage() -> list[Usage]:
    """Usage from 30 July to 2 September 2024: inbound and outbound calls and SMS most days, a
    local number every day, 11 August without any usage."""
    usage = []
    first = date(2024, 7, 30)
    for n in range(35):
        day = (first + timedelta(days=n)).isoformat()
        if n == 12:
            continue
        usage.append(Usage(day, "phonenumbers-local", 1, "0.0375"))
        usage.append(Usage(day, "calls-inbound", 10 + n, f"0.{(n * 85) % 1000:03d}5"))
        usage.append(Usage(day, "calls-outbound", 3 + n, f"{n % 4}.{(n * 13) % 100:02d}"))
        if n % 3:
            usage.append(Usage(day, "sms-outbound", 40 + n, f"0.{(n * 79) % 10000:04d}"))
            usage.append(Usage(day, "sms-inbound", 5, "0.0395"))
    return usage
