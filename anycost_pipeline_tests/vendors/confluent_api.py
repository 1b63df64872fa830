"""A stand-in for Confluent Cloud's Billing API (costs) on 127.0.0.1, written from Confluent's
OpenAPI description of billing/v1 (operationId listBillingV1Costs), not from our connector:

- `GET /billing/v1/costs` with HTTP Basic auth, the Cloud API key as user name and its secret
  as password; else 401 with the reference's `{errors: [...]}` body (its detail echoes the key
  it was given, so a test can see it is never shown);
- `start_date` and `end_date` required (`YYYY-MM-DD`); costs whose day is in
  [start_date, end_date) (end exclusive); a window longer than one month is refused (400);
- `page_size` (default 5000, at most 10000), `page_token` (opaque);
- `{api_version: billing/v1, kind: CostList, metadata: {first, next, total_size}, data: [...]}`
  with `next` an absolute URL on this server carrying `page_token`, left out on the last page;
- each cost: id, start_date, end_date (the next day), granularity DAILY, product, line_type,
  network_access_type, price, unit, quantity, original_amount, discount_amount, amount (JSON
  numbers, dollars), resource {id, display_name, environment {id}} (left out for a promotional
  credit, which is not tied to a resource);
- one answer 429 with `X-RateLimit-Reset` (seconds from now) and no `Retry-After` when the
  test asks for it.
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


@dataclass(frozen=True)
class Cost:
    """One day's cost of one line type and resource, as Confluent's billing holds it."""

    day: str  # YYYY-MM-DD
    product: str
    line_type: str
    amount: str  # as the JSON number is written: "12.3456", "-50", "1.5e-05"
    original: str
    discount: str
    quantity: str = "1"
    unit: str = "GB"
    resource: str | None = "lkc-12345"
    environment: str = "env-a1b2c"


@dataclass
class ConfluentStandIn:
    url: str
    key: str
    secret: str
    costs: list[Cost]
    seen: list[Seen] = field(default_factory=list)
    # Which request (counted from 1) answers 429 once, with this X-RateLimit-Reset.
    throttle_request: int | None = None
    reset_seconds: str = "1"


def _error(status: int, code: str, title: str, detail: str) -> tuple[int, str]:
    return status, json.dumps(
        {
            "errors": [
                {"id": "e-1", "status": str(status), "code": code, "title": title, "detail": detail}
            ]
        }
    )


def _given_key(authorization: str | None) -> tuple[str, str]:
    try:
        user, _, password = (
            base64.b64decode((authorization or "").removeprefix("Basic ")).decode().partition(":")
        )
    except ValueError:
        return "", ""
    return user, password


def _answer(
    api: ConfluentStandIn, query: dict[str, list[str]], auth: str | None
) -> tuple[int, str]:
    user, password = _given_key(auth)
    if not (auth or "").startswith("Basic ") or (user, password) != (api.key, api.secret):
        return _error(
            401, "user_unauthenticated", "Authentication Required", f"The API Key {user} is invalid"
        )
    one = {k: v[-1] for k, v in query.items()}
    try:
        start = date.fromisoformat(one["start_date"])
        end = date.fromisoformat(one["end_date"])
        size = int(one.get("page_size", "5000"))
    except (KeyError, ValueError):
        return _error(
            400, "invalid_filter", "Invalid Filter", "start_date and end_date are required dates"
        )
    month_later = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if end <= start or end > max(month_later, start + timedelta(days=31)):
        return _error(400, "invalid_filter", "Invalid Filter", "the window is at most one month")
    if not 1 <= size <= 10000:
        return _error(400, "invalid_filter", "Invalid Filter", "page_size is 1 to 10000")
    chosen = [c for c in api.costs if start <= date.fromisoformat(c.day) < end]
    offset = int(one.get("page_token", "0") or "0")
    page = chosen[offset : offset + size]
    metadata = {
        "first": f"{api.url}/billing/v1/costs?{urlencode({k: v for k, v in one.items() if k != 'page_token'})}",
        "total_size": len(chosen),
    }
    if offset + size < len(chosen):
        rest = {
            **{k: v for k, v in one.items() if k != "page_token"},
            "page_token": str(offset + size),
        }
        metadata["next"] = f"{api.url}/billing/v1/costs?{urlencode(rest)}"
    data = ", ".join(_cost(c, offset + n) for n, c in enumerate(page))
    # Written by hand so the amounts keep their text as JSON numbers.
    return 200, (
        '{"api_version": "billing/v1", "kind": "CostList", '
        f'"metadata": {json.dumps(metadata)}, "data": [{data}]}}'
    )


def _cost(cost: Cost, number: int) -> str:
    end = (date.fromisoformat(cost.day) + timedelta(days=1)).isoformat()
    resource = (
        ""
        if cost.resource is None
        else ', "resource": '
        + json.dumps(
            {
                "id": cost.resource,
                "display_name": f"{cost.resource}-name",
                "environment": {"id": cost.environment},
            }
        )
    )
    return (
        "{"
        f'"api_version": "billing/v1", "kind": "Cost", "id": "dlz-{number:05d}", '
        f'"start_date": "{cost.day}", "end_date": "{end}", "granularity": "DAILY", '
        f'"network_access_type": "INTERNET", "product": {json.dumps(cost.product)}, '
        f'"line_type": {json.dumps(cost.line_type)}, "price": 0.1, "unit": {json.dumps(cost.unit)}, '
        f'"quantity": {cost.quantity}, "original_amount": {cost.original}, '
        f'"discount_amount": {cost.discount}, "amount": {cost.amount}{resource}'
        "}"
    )


@contextmanager
def confluent_api(
    key: str, secret: str, costs: list[Cost], **options: object
) -> Iterator[ConfluentStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = ConfluentStandIn("", key, secret, costs, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: ConfluentStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json", "X-Request-Id": "req-1"}
    if path != "/billing/v1/costs":
        return (*_error(404, "not_found", "Not Found", path), headers)
    if number == api.throttle_request:
        limits = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0"}
        return 429, "", {**headers, **limits, "X-RateLimit-Reset": api.reset_seconds}
    return (*_answer(api, query, asked.get("Authorization")), headers)


def august_costs() -> list[Cost]:
    """Costs from 30 July to 2 September 2024: Kafka CKUs and storage every day (storage with a
    discount), Connect on odd days, a tiny amount in exponent notation, a promotional credit
    (negative, without a resource) on 15 August."""
    costs = []
    first = date(2024, 7, 30)
    for n in range(35):
        day = (first + timedelta(days=n)).isoformat()
        ckus = f"{48 + n % 5}.{(n * 37) % 100:02d}"
        costs.append(Cost(day, "KAFKA", "KAFKA_NUM_CKUS", ckus, ckus, "0", "24", "Hour"))
        original = f"3.{(n * 53) % 1000:03d}5"
        discount = f"0.{(n * 7) % 100:02d}"
        net = format(Decimal(original) - Decimal(discount), "f")
        costs.append(Cost(day, "KAFKA", "KAFKA_STORAGE", net, original, discount, "30.5", "GB"))
        if n % 2:
            costs.append(
                Cost(
                    day,
                    "CONNECT",
                    "CONNECT_NUM_TASKS",
                    f"{n % 9}.25",
                    f"{n % 9}.25",
                    "0",
                    "2",
                    "Task",
                    "lcc-777",
                )
            )
        if n == 20:
            costs.append(
                Cost(day, "KAFKA", "KAFKA_NETWORK_READ", "1.5e-05", "1.5e-05", "0", "0.001", "GB")
            )
    costs.append(
        Cost("2024-08-15", "KAFKA", "PROMO_CREDIT", "-50", "-50", "0", "1", "Credit", None)
    )
    return costs
