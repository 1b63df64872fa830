"""A stand-in for Datadog's Usage Metering cost endpoints (v2) on 127.0.0.1, written from
Datadog's API reference ("Get historical cost across your account", "Get estimated cost across
your account", "Rate Limits"; the OpenAPI schema CostByOrgResponse as the client libraries carry
it), not from our connector:

- both keys on every call, `DD-API-KEY` and `DD-APPLICATION-KEY`; a wrong or missing one is
  answered 403 `{"errors": ["Forbidden"]}` (Datadog's error form; the body echoes nothing);
- `GET /api/v2/usage/historical_cost`: `start_month` required, `end_month` optional, each
  exactly `YYYY-MM` (a date-time such as `2024-08-01T00:00:00Z` is refused 400, the change that
  left OpenCost's plugin with zero costs), `view` summary (default) or sub-org; a month is
  answered only from the 16th of the next month (`available_from_day`), before that `data` is
  empty;
- `GET /api/v2/usage/estimated_cost`: exactly one of `start_month` / `start_date` (else 400);
  `start_date` (`YYYY-MM-DD`) no further back than the first day of the month before `today`;
  with `end_date`, one item per organization and day whose figures are **cumulative**: month to
  date, day over day; days up to the day before `today` only;
- the answer: `{"data": [{"type": "cost_by_org", "id", "attributes": {"org_name", "public_id",
  "account_name", "account_public_id", "region", "date", "total_cost", "charges":
  [{"product_name", "charge_type", "cost"}]}}]}`, amounts as JSON numbers; each product has a
  `committed`, an `on_demand` and a `total` charge, the total being the sum of the other two;
  `date` an RFC 3339 date-time (`2024-08-01T00:00:00+00:00`);
- no pagination (the reference documents none for these endpoints);
- one answer 429 with `X-RateLimit-Limit`, `-Period`, `-Remaining`, `-Reset` (seconds until the
  limit resets) and `-Name`, and no `Retry-After`, when the test asks for it.
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from email.message import Message
from functools import partial

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Charge:
    """One day's cost of one product in one organization: its committed and on-demand parts."""

    day: str  # YYYY-MM-DD
    org: str  # the organization's public id
    product: str
    committed: str
    on_demand: str

    @property
    def total(self) -> Decimal:
        return Decimal(self.committed) + Decimal(self.on_demand)


@dataclass
class DatadogStandIn:
    url: str
    api_key: str
    app_key: str
    charges: list[Charge]
    today: date = date(2024, 9, 20)
    available_from_day: int = 16
    seen: list[Seen] = field(default_factory=list)
    throttle_request: int | None = None  # which request (counted from 1) answers 429 once
    reset_seconds: str = "1"


def _error(status: int, *messages: str) -> tuple[int, str]:
    return status, json.dumps({"errors": list(messages)})


def _month_start(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _number(amount: Decimal) -> str:
    """An amount as a JSON number: plain, or in exponent notation when tiny (as Go writes it)."""
    if amount != 0 and abs(amount) < Decimal("0.0001"):
        return re.sub(r"e-(\d)$", r"e-0\1", format(amount.normalize(), "e"))  # 1.5e-05
    return format(amount, "f")


def _item(org: str, when: date, sums: dict[str, tuple[Decimal, Decimal]]) -> str:
    charges = []
    for product, (committed, on_demand) in sorted(sums.items()):
        for kind, cost in (
            ("committed", committed),
            ("on_demand", on_demand),
            ("total", committed + on_demand),
        ):
            charges.append(
                f'{{"product_name": {json.dumps(product)}, "charge_type": "{kind}", '
                f'"cost": {_number(cost)}}}'
            )
    total = sum((c + o for c, o in sums.values()), Decimal(0))
    attributes = (
        f'"org_name": "{org} org", "public_id": {json.dumps(org)}, "account_name": "Acme", '
        f'"account_public_id": "acc-1", "region": "eu", '
        f'"date": "{when.isoformat()}T00:00:00+00:00", "total_cost": {_number(total)}, '
        f'"charges": [{", ".join(charges)}]'
    )
    return f'{{"type": "cost_by_org", "id": "{org}-{when}", "attributes": {{{attributes}}}}}'


def _sums(charges: list[Charge]) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """org → product → (committed, on_demand), summed."""
    out: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    for c in charges:
        held = out.setdefault(c.org, {}).get(c.product, (Decimal(0), Decimal(0)))
        out[c.org][c.product] = (held[0] + Decimal(c.committed), held[1] + Decimal(c.on_demand))
    return out


def _historical(api: DatadogStandIn, one: dict[str, str]) -> tuple[int, str]:
    start, end = one.get("start_month"), one.get("end_month", one.get("start_month"))
    if start is None:
        return _error(400, "start_month is required")
    if not MONTH.match(start) or not MONTH.match(end or ""):
        return _error(400, "month must be in the format YYYY-MM")
    if one.get("view", "summary") not in ("summary", "sub-org"):
        return _error(400, "view must be summary or sub-org")
    items = []
    month = _month_start(start)
    while month <= _month_start(end or start):
        ready = _next_month(month) + timedelta(days=api.available_from_day - 1)
        held = [c for c in api.charges if _month_start(c.day) == month]
        if api.today >= ready and held:
            sums = _sums(held)
            if one.get("view", "summary") == "summary":
                merged: dict[str, tuple[Decimal, Decimal]] = {}
                for products in sums.values():
                    for product, (c, o) in products.items():
                        had = merged.get(product, (Decimal(0), Decimal(0)))
                        merged[product] = (had[0] + c, had[1] + o)
                sums = {"parent": merged}
            items += [_item(org, month, products) for org, products in sorted(sums.items())]
        month = _next_month(month)
    return 200, f'{{"data": [{", ".join(items)}]}}'


def _estimated(api: DatadogStandIn, one: dict[str, str]) -> tuple[int, str]:
    if ("start_month" in one) == ("start_date" in one):
        return _error(400, "Must provide exactly one of start_month or start_date")
    if "start_month" in one:
        return _error(400, "the stand-in answers daily figures only (start_date and end_date)")
    start_text, end_text = one["start_date"], one.get("end_date", one["start_date"])
    if not DAY.match(start_text) or not DAY.match(end_text):
        return _error(400, "date must be in the format YYYY-MM-DD")
    start, end = date.fromisoformat(start_text), date.fromisoformat(end_text)
    this_month = date(api.today.year, api.today.month, 1)
    previous = date(this_month.year - (this_month.month == 1), (this_month.month - 2) % 12 + 1, 1)
    if start < previous:
        return _error(400, "start_date cannot go beyond two months in the past")
    items = []
    day = start
    while day <= min(end, api.today - timedelta(days=1)):
        # Month to date: every charge of the day's month up to and including the day.
        so_far = [
            c
            for c in api.charges
            if _month_start(c.day) == date(day.year, day.month, 1)
            and date.fromisoformat(c.day) <= day
        ]
        for org, products in sorted(_sums(so_far).items()):
            items.append(_item(org, day, products))
        day += timedelta(days=1)
    return 200, f'{{"data": [{", ".join(items)}]}}'


@contextmanager
def datadog_api(
    api_key: str, app_key: str, charges: list[Charge], **options: object
) -> Iterator[DatadogStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = DatadogStandIn("", api_key, app_key, charges, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: DatadogStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    one = {k: v[-1] for k, v in query.items()}
    if number == api.throttle_request:
        limits = {
            "X-RateLimit-Limit": "12",
            "X-RateLimit-Period": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": api.reset_seconds,
            "X-RateLimit-Name": "usage_metering",
        }
        return (*_error(429, "Too many requests"), {**headers, **limits})
    if (asked.get("DD-API-KEY"), asked.get("DD-APPLICATION-KEY")) != (api.api_key, api.app_key):
        return (*_error(403, "Forbidden"), headers)
    if path == "/api/v2/usage/historical_cost":
        return (*_historical(api, one), headers)
    if path == "/api/v2/usage/estimated_cost":
        return (*_estimated(api, one), headers)
    return (*_error(404, "Not found"), headers)


def august_charges() -> list[Charge]:
    """Two organizations' charges from 25 July to 5 September 2024: infrastructure hosts every
    day (committed and on demand), logs on even days (on demand only), APM from 10 August, a
    tiny amount on 20 August."""
    charges = []
    first = date(2024, 7, 25)
    for n in range(43):
        day = (first + timedelta(days=n)).isoformat()
        for org, factor in (("abc123", 1), ("def456", 3)):
            charges.append(
                Charge(
                    day, org, "infra_host", f"{15 * factor}.{n % 7}5", f"{n % 4}.{n * 13 % 100:02d}"
                )
            )
            if n % 2 == 0:
                charges.append(Charge(day, org, "logs_indexed_15day", "0", f"{factor}.{n % 10}125"))
            if day >= "2024-08-10":
                charges.append(Charge(day, org, "apm_host", f"{8 * factor}", "0.1"))
        if day == "2024-08-20":
            charges.append(Charge(day, "abc123", "synthetics_api_tests", "0", "0.000015"))
    return charges
