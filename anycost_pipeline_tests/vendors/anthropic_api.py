"""A stand-in for Anthropic's Admin API cost report on 127.0.0.1, written from the API's
reference (platform.claude.com/docs/en/api/admin/cost_report, "Get Cost Report"), not from our
connector:

- `GET /v1/organizations/cost_report`, `x-api-key: <Admin API key>` and an `anthropic-version`
  header, else 401 (the answer echoes the key it was given, so a test can see it is never
  shown) or 400;
- `starting_at` (RFC 3339, required: buckets that start on or after it, snapped to the UTC
  day), `ending_at` (buckets that end before it), `bucket_width` (only `1d`), `group_by[]`
  (workspace_id, description), `limit` (1-31 buckets per page, default 7), `page` (the previous
  answer's `next_page`, an opaque token);
- `{data: [{starting_at, ending_at, results: [...]}], has_more, next_page}`, with a literal
  `"next_page": null` on the last page; a day without costs is a bucket with no results;
- each result: `amount` a decimal string in cents with fractional cents ("123.78912" is
  $1.2378912), `currency` "USD", `workspace_id` (null for the default workspace or when not
  grouped by it), `description`, `model`, `cost_type`, `token_type`, `service_tier`,
  `context_window` (null unless grouped by description; model and token_type also null for
  costs that are not tokens);
- one answer 429 with `retry-after` when the test asks for it.
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from functools import partial

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

GROUPS = ("workspace_id", "description")
DETAIL = ("description", "model", "cost_type", "token_type", "service_tier", "context_window")


@dataclass(frozen=True)
class Cost:
    """One day's cost of one workspace and cost item, as the API's ledger holds it."""

    day: str  # the UTC day, YYYY-MM-DD
    workspace_id: str | None  # None: the default workspace
    description: str
    amount: str  # cents, as the API writes it: "123.78912"
    model: str | None = None
    cost_type: str = "tokens"
    token_type: str | None = None
    currency: str = "USD"


@dataclass
class AnthropicStandIn:
    url: str
    key: str
    costs: list[Cost]
    seen: list[Seen] = field(default_factory=list)
    # Which request (counted from 1) answers 429 once, with this retry-after.
    throttle_request: int | None = None
    retry_after: str = "1"


def _error(status: int, kind: str, message: str) -> tuple[int, str]:
    return status, json.dumps({"type": "error", "error": {"type": kind, "message": message}})


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _answer(
    api: AnthropicStandIn, query: dict[str, list[str]], key: str | None, version: str | None
) -> tuple[int, str]:
    if key != api.key:
        return _error(401, "authentication_error", f"invalid x-api-key: {key}")
    if not version:
        return _error(400, "invalid_request_error", "anthropic-version: header is required")
    one = {k: v[-1] for k, v in query.items()}
    if "starting_at" not in one:
        return _error(400, "invalid_request_error", "starting_at: Field required")
    try:
        start = _instant(one["starting_at"]).replace(hour=0, minute=0, second=0, microsecond=0)
        end = _instant(one["ending_at"]) if "ending_at" in one else start + timedelta(days=31)
        limit = int(one.get("limit", "7"))
    except ValueError:
        return _error(400, "invalid_request_error", "starting_at, ending_at: RFC 3339; limit: int")
    if one.get("bucket_width", "1d") != "1d":
        return _error(400, "invalid_request_error", "bucket_width: only 1d is supported")
    if not 1 <= limit <= 31:
        return _error(400, "invalid_request_error", "limit: must be between 1 and 31")
    groups = query.get("group_by[]", [])
    if any(g not in GROUPS for g in groups):
        return _error(400, "invalid_request_error", f"group_by[]: one of {', '.join(GROUPS)}")
    days = []
    day = start
    while day + timedelta(days=1) <= end:
        days.append(day)
        day += timedelta(days=1)
    offset = 0
    if "page" in one:
        try:
            offset = int(base64.b64decode(one["page"].removeprefix("page_")).decode())
        except ValueError:
            return _error(400, "invalid_request_error", f"page: invalid token {one['page']!r}")
    chosen = days[offset : offset + limit]
    more = offset + limit < len(days)
    token = "page_" + base64.b64encode(str(offset + limit).encode()).decode()
    buckets = [_bucket(api.costs, d, groups) for d in chosen]
    # Written by hand so the last page ends with a literal `"next_page": null`.
    return 200, (
        '{"data": [' + ", ".join(buckets) + "], "
        f'"has_more": {"true" if more else "false"}, '
        f'"next_page": {json.dumps(token) if more else "null"}}}'
    )


def _bucket(costs: list[Cost], day: datetime, groups: list[str]) -> str:
    merged: dict[tuple, list[Cost]] = {}
    for cost in costs:
        if cost.day == day.date().isoformat():
            key = (
                cost.workspace_id if "workspace_id" in groups else None,
                cost.description if "description" in groups else None,
            )
            merged.setdefault(key, []).append(cost)
    results = []
    for (workspace, description), parts in merged.items():
        amount = str(sum((Decimal(p.amount) for p in parts), Decimal(0)))
        detail = {name: None for name in DETAIL}
        if description is not None:
            first = parts[0]
            detail.update(
                description=first.description,
                model=first.model,
                cost_type=first.cost_type,
                token_type=first.token_type,
                service_tier="standard" if first.cost_type == "tokens" else None,
                context_window="0-200k" if first.cost_type == "tokens" else None,
            )
        results.append(
            {
                "amount": amount,
                "currency": parts[0].currency,
                "workspace_id": workspace,
                **detail,
            }
        )
    end = day + timedelta(days=1)
    return json.dumps(
        {
            "starting_at": day.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ending_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "results": results,
        }
    )


@contextmanager
def anthropic_api(key: str, costs: list[Cost], **options: object) -> Iterator[AnthropicStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = AnthropicStandIn("", key, costs, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: AnthropicStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if path != "/v1/organizations/cost_report":
        return (*_error(404, "not_found_error", f"no such route {path}"), headers)
    if number == api.throttle_request:
        throttled = _error(429, "rate_limit_error", "Rate limit exceeded")
        return (*throttled, {**headers, "retry-after": api.retry_after})
    answer = _answer(api, query, asked.get("x-api-key"), asked.get("anthropic-version"))
    return (*answer, headers)


def august_ledger() -> list[Cost]:
    """Costs from 30 July to 2 September 2024: every August day has two or three cost items
    (one day has none) in two workspaces and the default one, amounts in fractional cents."""
    items = [
        (
            "Claude Sonnet 4 Usage - Input Tokens",
            "claude-sonnet-4-20250514",
            "tokens",
            "uncached_input_tokens",
        ),
        (
            "Claude Sonnet 4 Usage - Output Tokens",
            "claude-sonnet-4-20250514",
            "tokens",
            "output_tokens",
        ),
        ("Web Search Usage", None, "web_search", None),
    ]
    first = datetime(2024, 7, 30, tzinfo=UTC)
    costs = []
    for n in range(35):
        day = (first + timedelta(days=n)).date().isoformat()
        if n == 12:  # 2024-08-11: a day without costs
            continue
        for i, (description, model, cost_type, token_type) in enumerate(items[: 2 + n % 2]):
            # e.g. "1234.78912": cents with fractional cents, as the reference's example
            amount = f"{(n * 97 + i * 31) % 5000}.{(n * 37 + i * 11) % 100:02d}{(n + i) % 1000:03d}"
            costs.append(
                Cost(
                    day=day,
                    workspace_id=None if i == 2 else f"wrkspc_0{'AB'[i]}",
                    description=description,
                    amount=amount,
                    model=model,
                    cost_type=cost_type,
                    token_type=token_type,
                )
            )
    return costs
