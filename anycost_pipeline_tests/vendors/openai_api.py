"""A stand-in for OpenAI's Organization Costs API on 127.0.0.1, written from the API's reference
(OpenAI's OpenAPI description, operationId `usage-costs`), not from our connector:

- `GET /v1/organization/costs`, `Authorization: Bearer <admin key>`, else 401 (the answer
  echoes the key it was given, as APIs sometimes do, so a test can see it is never shown);
- `start_time` (unix seconds, inclusive, required), `end_time` (exclusive), `bucket_width`
  (only `1d`), `group_by[]` (project_id, line_item, api_key_id), `limit` (1-180 buckets per
  page, default 7), `page` (the cursor of the previous answer's `next_page`);
- `{object: page, data: [{object: bucket, start_time, end_time, results: [...]}], has_more,
  next_page}`, with a literal `"next_page": null` on the last page; a day without costs is a
  bucket with no results;
- each result: `amount: {value, currency: "usd"}`, `line_item`, `project_id`, `api_key_id`
  (null unless grouped by), `quantity` and `quantity_unit` (only with `group_by` line_item);
- `amount.value` is a JSON number on some results and a decimal string on others (the spec
  says number; a live answer had a string); a tiny number may be in exponent notation;
- one answer 429 with `Retry-After` when the test asks for it.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message
from functools import partial

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

DAY = 86400
GROUPS = ("project_id", "line_item", "api_key_id")


@dataclass(frozen=True)
class Cost:
    """One day's cost of one project and line item, as the API's ledger holds it."""

    day_start: int  # unix seconds of the UTC day
    project_id: str | None
    line_item: str
    value: str  # as the API writes it: "0.1", "12.50", "2.5e-05"
    as_string: bool  # written as a JSON string rather than a number
    quantity: str | None
    quantity_unit: str | None
    currency: str = "usd"


@dataclass
class OpenAiStandIn:
    url: str
    key: str
    costs: list[Cost]
    seen: list[Seen] = field(default_factory=list)
    # Which request (counted from 1) answers 429 once, with this Retry-After.
    throttle_request: int | None = None
    retry_after: str = "1"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> tuple[int, str]:
    return status, json.dumps({"error": {"message": message, "type": kind, "code": None}})


def _answer(api: OpenAiStandIn, query: dict[str, list[str]], auth: str | None) -> tuple[int, str]:
    if auth != f"Bearer {api.key}":
        given = (auth or "").removeprefix("Bearer ")
        return _error(401, f"Incorrect API key provided: {given}.", "invalid_api_key")
    one = {k: v[-1] for k, v in query.items()}
    if "start_time" not in one:
        return _error(400, "start_time is required")
    try:
        start = int(one["start_time"])
        end = (
            int(one["end_time"]) if "end_time" in one else max(c.day_start for c in api.costs) + DAY
        )
        limit = int(one.get("limit", "7"))
    except ValueError:
        return _error(400, "start_time, end_time and limit are integers")
    if one.get("bucket_width", "1d") != "1d":
        return _error(400, "bucket_width: only 1d is supported")
    if not 1 <= limit <= 180:
        return _error(400, "limit must be between 1 and 180")
    groups = query.get("group_by[]", [])
    if any(g not in GROUPS for g in groups):
        return _error(400, f"group_by[] must be among {', '.join(GROUPS)}")
    starts = list(range(start, end, DAY))
    offset = 0
    if "page" in one:
        if not one["page"].startswith("page_") or not one["page"][5:].isdigit():
            return _error(400, f"invalid page cursor {one['page']!r}")
        offset = int(one["page"][5:])
    chosen = starts[offset : offset + limit]
    more = offset + limit < len(starts)
    buckets = [_bucket(api.costs, day, groups) for day in chosen]
    # The body is written by hand so numbers keep their text and the last cursor is `null`.
    page = (
        '{"object": "page", "data": [' + ", ".join(buckets) + "], "
        f'"has_more": {"true" if more else "false"}, '
        f'"next_page": {json.dumps(f"page_{offset + limit}") if more else "null"}}}'
    )
    return 200, page


def _bucket(costs: list[Cost], day: int, groups: list[str]) -> str:
    merged: dict[tuple, list[Cost]] = {}
    for cost in costs:
        if cost.day_start == day:
            key = tuple(getattr(cost, g, None) if g in groups else None for g in GROUPS)
            merged.setdefault(key, []).append(cost)
    results = []
    for key, parts in merged.items():
        if len(parts) == 1:
            value, as_string = parts[0].value, parts[0].as_string
        else:
            value, as_string = str(sum((Decimal(p.value) for p in parts), Decimal(0))), False
        by_item = "line_item" in groups
        quantity = parts[0].quantity if by_item and len(parts) == 1 else None
        unit = parts[0].quantity_unit if by_item else None
        fields = dict(zip(GROUPS, key))
        results.append(
            '{"object": "organization.costs.result", '
            f'"amount": {{"value": {json.dumps(value) if as_string else value}, '
            f'"currency": {json.dumps(parts[0].currency)}}}, '
            f'"line_item": {json.dumps(fields["line_item"])}, '
            f'"project_id": {json.dumps(fields["project_id"])}, '
            f'"api_key_id": {json.dumps(fields["api_key_id"])}, '
            f'"quantity": {quantity if quantity is not None else "null"}, '
            f'"quantity_unit": {json.dumps(unit)}}}'
        )
    return (
        f'{{"object": "bucket", "start_time": {day}, "end_time": {day + DAY}, '
        f'"results": [{", ".join(results)}]}}'
    )


@contextmanager
def openai_api(key: str, costs: list[Cost], **options: object) -> Iterator[OpenAiStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = OpenAiStandIn("", key, costs, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: OpenAiStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if path != "/v1/organization/costs":
        return (*_error(404, f"no such route {path}"), headers)
    if number == api.throttle_request:
        return (
            *_error(429, "Rate limit reached", "requests"),
            {**headers, "Retry-After": api.retry_after},
        )
    return (*_answer(api, query, asked.get("Authorization")), headers)


def august_ledger() -> list[Cost]:
    """Costs from 30 July to 2 September 2024: every August day has two or three projects' line
    items (one day has none), amounts as numbers and as strings, one in exponent notation."""
    costs = []
    items = [
        ("gpt-4o-2024-08-06, input", "tokens"),
        ("gpt-4o-mini, output", "tokens"),
        ("dall-e-3", "images"),
    ]
    first = 1722470400 - 2 * DAY  # 2024-07-30
    for n in range(35):
        day = first + n * DAY
        if n == 12:  # 2024-08-11: a day without costs
            continue
        for i, (item, unit) in enumerate(items[: 2 + n % 2]):
            value = f"{n % 7}.{(n * 37 + i * 11) % 100:02d}{i}"  # e.g. 3.451: 0.1-like decimals
            if n == 20 and i == 1:
                value = "2.5e-05"  # a tiny cost, as a float serialiser writes it
            costs.append(
                Cost(
                    day_start=day,
                    project_id=None if i == 2 else f"proj_{'ab'[i]}",
                    line_item=item,
                    value=value,
                    as_string=(n + i) % 2 == 1 and "e" not in value,
                    quantity=str(1000 * (n + 1) + i),
                    quantity_unit=unit,
                )
            )
    return costs
