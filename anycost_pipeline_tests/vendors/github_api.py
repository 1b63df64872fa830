"""A stand-in for GitHub's billing usage report of an organization on 127.0.0.1, written from
GitHub's REST reference ("Get billing usage report for an organization", and the example answer
of its migration guide), not from our connector:

- `GET /organizations/{org}/settings/billing/usage` (the name is not case sensitive; another
  organization is 404), `Authorization: Bearer <token>` else 401 `Bad credentials`, and an
  `X-GitHub-Api-Version` that GitHub knows (2022-11-28) else 400;
- `year` (four digits), `month` (1-12), `day` (1-31) narrow the report; without `year` the
  current year. `hour` is refused (GitHub removed it);
- `{usageItems: [{date, product, sku, quantity, unitType, pricePerUnit, grossAmount,
  discountAmount, netAmount, organizationName, repositoryName}]}`, the amounts as JSON numbers
  (`0.8`, `0`, one tiny one in exponent notation), the whole period in one answer;
- one answer 429 with `Retry-After` when the test asks for it.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from email.message import Message
from functools import partial

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

VERSIONS = ("2022-11-28", "2026-03-10")


@dataclass(frozen=True)
class Item:
    """One day's usage of one SKU, as GitHub's billing platform holds it."""

    date: str  # YYYY-MM-DD
    product: str
    sku: str
    quantity: str
    unit_type: str
    price_per_unit: str
    gross: str  # as GitHub writes the JSON number: "0.8", "0", "1.2e-05"
    discount: str
    net: str
    repository: str | None = "acme/web"


@dataclass
class GitHubStandIn:
    url: str
    org: str
    token: str
    items: list[Item]
    seen: list[Seen] = field(default_factory=list)
    throttle_request: int | None = None
    retry_after: str = "1"


def _error(status: int, message: str) -> tuple[int, str]:
    return status, json.dumps(
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest/billing/enhanced-billing",
            "status": str(status),
        }
    )


def _answer(
    api: GitHubStandIn, org: str, query: dict[str, list[str]], auth: str | None, version: str | None
) -> tuple[int, str]:
    if auth != f"Bearer {api.token}":
        return _error(401, "Bad credentials")
    if version not in VERSIONS:
        return _error(400, f"Unsupported 'X-GitHub-Api-Version' header: {version}")
    if org.lower() != api.org.lower():
        return _error(404, "Not Found")
    one = {k: v[-1] for k, v in query.items()}
    if "hour" in one:
        return _error(400, "The hour parameter is no longer supported")
    try:
        year = int(one.get("year", str(date.today().year)))
        month = int(one["month"]) if "month" in one else None
        day = int(one["day"]) if "day" in one else None
    except ValueError:
        return _error(400, "year, month and day are integers")
    if month is not None and not 1 <= month <= 12 or day is not None and not 1 <= day <= 31:
        return _error(400, "month is 1-12 and day 1-31")
    chosen = [
        i
        for i in api.items
        if int(i.date[:4]) == year
        and (month is None or int(i.date[5:7]) == month)
        and (day is None or int(i.date[8:10]) == day)
    ]
    # Written by hand so the amounts keep their text as JSON numbers.
    items = ", ".join(
        "{"
        f'"date": {json.dumps(i.date)}, "product": {json.dumps(i.product)}, '
        f'"sku": {json.dumps(i.sku)}, "quantity": {i.quantity}, '
        f'"unitType": {json.dumps(i.unit_type)}, "pricePerUnit": {i.price_per_unit}, '
        f'"grossAmount": {i.gross}, "discountAmount": {i.discount}, "netAmount": {i.net}, '
        f'"organizationName": {json.dumps(api.org)}, "repositoryName": {json.dumps(i.repository)}'
        "}"
        for i in chosen
    )
    return 200, '{"usageItems": [' + items + "]}"


@contextmanager
def github_api(
    org: str, token: str, items: list[Item], **options: object
) -> Iterator[GitHubStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = GitHubStandIn("", org, token, items, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: GitHubStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    segments = path.split("/")
    if (
        len(segments) != 6
        or segments[1] != "organizations"
        or segments[3:] != ["settings", "billing", "usage"]
    ):
        return (*_error(404, "Not Found"), headers)
    if number == api.throttle_request:
        throttled = _error(429, "API rate limit exceeded")
        return (*throttled, {**headers, "Retry-After": api.retry_after})
    auth, version = asked.get("Authorization"), asked.get("X-GitHub-Api-Version")
    return (*_answer(api, segments[2], query, auth, version), headers)


def august_items() -> list[Item]:
    """Usage from 30 July to 2 September 2024: Actions minutes every day (the first 3,000 free:
    net 0, the discount the gross), Packages storage on even days, Copilot seats on the 1st, one
    tiny amount in exponent notation."""
    items = []
    first = date(2024, 7, 30)
    for n in range(35):
        day = (first + timedelta(days=n)).isoformat()
        minutes = 300 + n * 17
        gross = format(minutes * Decimal("0.008"), "f")  # "2.400": a JSON number
        free = n < 10
        items.append(
            Item(
                day,
                "actions",
                "actions_linux",
                str(minutes),
                "Minutes",
                "0.008",
                gross,
                gross if free else "0",
                "0" if free else gross,
            )
        )
        if n % 2 == 0:
            storage = f"0.{n:02d}7"
            items.append(
                Item(
                    day,
                    "packages",
                    "packages_storage",
                    "3",
                    "GigabyteHours",
                    "0.00033602",
                    storage,
                    "0",
                    storage,
                    repository=None,
                )
            )
        if n == 20:
            items.append(
                Item(
                    day,
                    "actions",
                    "actions_storage",
                    "1",
                    "GigabyteHours",
                    "0.000001",
                    "1.2e-05",
                    "0",
                    "1.2e-05",
                )
            )
    items.append(
        Item(
            "2024-08-01",
            "copilot",
            "copilot_for_business",
            "12",
            "UserMonths",
            "19",
            "228",
            "0",
            "228",
            repository=None,
        )
    )
    return items
