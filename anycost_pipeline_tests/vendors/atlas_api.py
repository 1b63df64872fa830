"""A stand-in for MongoDB Atlas's Admin API v2 invoices on 127.0.0.1, written from MongoDB's
reference (the Atlas Admin API v2 operations listInvoices / getInvoice / listPendingInvoices, as
the Atlas CLI pages and the atlas-sdk-go models BillingInvoiceMetadata and BillingInvoice carry
them) and its "API authentication" page, not from our connector:

- HTTP **Digest** auth with an API key pair: a request without a valid `Authorization: Digest`
  gets 401 with `WWW-Authenticate: Digest realm="MMS Public API", ..., qop="auth"`; the
  response hash is checked (MD5, qop auth) against the public key and its private key, which
  itself never travels;
- the versioned media type: `Accept: application/vnd.atlas.YYYY-MM-DD+json`, else 406;
- `GET /api/atlas/v2/orgs/{orgId}/invoices`: `fromDate` (invoices whose startDate is on or after
  it), `toDate` (whose endDate is on or before it), `pageNum` (from 1), `itemsPerPage` (default
  100), `includeCount`; `{links, results: [invoice metadata, without line items], totalCount}`;
- `GET /api/atlas/v2/orgs/{orgId}/invoices/{invoiceId}` and `/invoices/pending`: the whole
  invoice, with `lineItems: [{clusterName, groupId, groupName, sku, quantity, unit,
  unitPriceDollars, totalPriceCents (integer cents), startDate, endDate, created}]`;
  `statusName` PENDING until the invoice closes, CLOSED after;
- dates as ISO 8601 timestamps in UTC (`2024-08-01T00:00:00Z`);
- a role without billing access: 403 with Atlas's error body;
- one answer 429 with `Retry-After` when the test asks for it (assumed: the reference says the
  limit's message names the seconds to wait).
"""

import hashlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import Message
from functools import partial
from urllib.parse import parse_qs, urlsplit

from anycost_pipeline_tests.vendors.recorded import Seen, recorded_server

REALM = "MMS Public API"
VERSIONED = re.compile(r"application/vnd\.atlas\.\d{4}-\d{2}-\d{2}\+json")


@dataclass(frozen=True)
class LineItem:
    day: str  # YYYY-MM-DD, the usage day
    sku: str
    cents: int  # totalPriceCents
    cluster: str | None = "Cluster0"
    group: str = "5f1a2b3c4d5e6f7a8b9c0d1e"
    quantity: str = "24"
    unit: str = "server hours"
    unit_price: str = "0.08"


@dataclass
class Invoice:
    id: str
    month: str  # YYYY-MM
    status: str
    items: list[LineItem]


@dataclass
class AtlasStandIn:
    url: str
    org: str
    public_key: str
    private_key: str
    invoices: list[Invoice]
    seen: list[Seen] = field(default_factory=list)
    throttle_request: int | None = None  # which request (counted from 1) answers 429 once
    retry_after: str = "1"
    role_refused: bool = False  # the key lacks a billing role: 403
    nonces: set[str] = field(default_factory=set)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (HTTP Digest's own hash)


def _digest_fields(header: str) -> dict[str, str]:
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header)}


def _authenticated(
    api: AtlasStandIn, header: str | None, path: str, query: dict[str, list[str]]
) -> bool:
    if not header or not header.startswith("Digest "):
        return False
    given = _digest_fields(header[len("Digest ") :])
    if given.get("username") != api.public_key or given.get("nonce") not in api.nonces:
        return False
    uri = given.get("uri", "")
    asked = urlsplit(uri)
    if asked.path != path or parse_qs(asked.query) != query or given.get("qop") != "auth":
        return False  # the hash must be of this very request
    ha1 = _md5(f"{api.public_key}:{REALM}:{api.private_key}")
    ha2 = _md5(f"GET:{uri}")
    expected = _md5(f"{ha1}:{given['nonce']}:{given.get('nc')}:{given.get('cnonce')}:auth:{ha2}")
    return given.get("response") == expected


def _error(status: int, code: str, reason: str, detail: str) -> tuple[int, str]:
    return status, json.dumps(
        {"detail": detail, "error": status, "errorCode": code, "parameters": [], "reason": reason}
    )


def _bounds(month: str) -> tuple[str, str]:
    first = date(int(month[:4]), int(month[5:7]), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return f"{first}T00:00:00Z", f"{after}T00:00:00Z"


def _metadata(api: AtlasStandIn, invoice: Invoice) -> dict:
    start, end = _bounds(invoice.month)
    subtotal = sum(i.cents for i in invoice.items if i.cents > 0)
    return {
        "id": invoice.id,
        "orgId": api.org,
        "statusName": invoice.status,
        "startDate": start,
        "endDate": end,
        "created": start,
        "updated": end,
        "amountBilledCents": sum(i.cents for i in invoice.items),
        "amountPaidCents": 0,
        "creditsCents": -sum(i.cents for i in invoice.items if i.cents < 0),
        "salesTaxCents": 0,
        "startingBalanceCents": 0,
        "subtotalCents": subtotal,
        "links": [
            {
                "href": f"{api.url}/api/atlas/v2/orgs/{api.org}/invoices/{invoice.id}",
                "rel": "self",
            }
        ],
    }


def _invoice(api: AtlasStandIn, invoice: Invoice) -> str:
    items = [
        {
            "clusterName": i.cluster,
            "groupId": i.group,
            "groupName": "Production",
            "sku": i.sku,
            "quantity": float(i.quantity),
            "unit": i.unit,
            "unitPriceDollars": float(i.unit_price),
            "totalPriceCents": i.cents,
            "startDate": f"{i.day}T00:00:00Z",
            "endDate": f"{date.fromisoformat(i.day) + timedelta(days=1)}T00:00:00Z",
            "created": f"{i.day}T06:00:00Z",
        }
        for i in invoice.items
    ]
    return json.dumps(
        {**_metadata(api, invoice), "lineItems": items, "payments": [], "refunds": []}
    )


def _answer(api: AtlasStandIn, path: str, query: dict[str, list[str]]) -> tuple[int, str]:
    base = f"/api/atlas/v2/orgs/{api.org}/invoices"
    one = {k: v[-1] for k, v in query.items()}
    if path == base:
        chosen = [
            inv
            for inv in api.invoices
            if _bounds(inv.month)[0][:10] >= one.get("fromDate", "0000-00-00")
            and _bounds(inv.month)[1][:10] <= one.get("toDate", "9999-12-31")
        ]
        page, size = int(one.get("pageNum", "1")), int(one.get("itemsPerPage", "100"))
        shown = chosen[(page - 1) * size : page * size]
        return 200, json.dumps(
            {
                "links": [{"href": f"{api.url}{path}", "rel": "self"}],
                "results": [_metadata(api, inv) for inv in shown],
                "totalCount": len(chosen),
            }
        )
    if path == f"{base}/pending":
        pending = [inv for inv in api.invoices if inv.status == "PENDING"]
        if not pending:
            return _error(404, "PENDING_INVOICE_NOT_FOUND", "Not Found", "no pending invoice")
        return 200, _invoice(api, pending[0])
    for inv in api.invoices:
        if path == f"{base}/{inv.id}":
            return 200, _invoice(api, inv)
    return _error(404, "RESOURCE_NOT_FOUND", "Not Found", f"Cannot find resource {path}")


@contextmanager
def atlas_api(
    org: str, public_key: str, private_key: str, invoices: list[Invoice], **options: object
) -> Iterator[AtlasStandIn]:
    """The stand-in on 127.0.0.1 for the duration of the block."""
    api = AtlasStandIn("", org, public_key, private_key, invoices, **options)  # type: ignore[arg-type]
    with recorded_server(api.seen, partial(_route, api)) as api.url:
        yield api


def _route(
    api: AtlasStandIn, number: int, path: str, query: dict[str, list[str]], asked: Message
) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    accept = asked.get("Accept") or ""
    if not _authenticated(api, asked.get("Authorization"), path, query):
        nonce = _md5(f"nonce-{number}-{time.monotonic()}")
        api.nonces.add(nonce)
        challenge = (
            f'Digest realm="{REALM}", domain="", nonce="{nonce}", algorithm=MD5, qop="auth", '
            "stale=false"
        )
        detail = "You are not authenticated. Please supply valid credentials."
        status, body = _error(401, "NOT_AUTHENTICATED", "Unauthorized", detail)
        return status, body, {**headers, "WWW-Authenticate": challenge}
    if number == api.throttle_request:
        status, body = _error(429, "RATE_LIMITED", "Too Many Requests", "Rate limit exceeded.")
        return status, body, {**headers, "Retry-After": api.retry_after}
    if not VERSIONED.fullmatch(accept):
        return (*_error(406, "INVALID_VERSION", "Not Acceptable", "a versioned type"), headers)
    if api.role_refused:
        detail = f"The API key {api.public_key} does not have the required role"
        return (*_error(403, "USER_CANNOT_ACCESS_ORGANIZATION", "Forbidden", detail), headers)
    status, body = _answer(api, path, query)
    return status, body, {**headers, "Content-Type": accept} if status == 200 else headers


def august_invoices() -> list[Invoice]:
    """July's closed invoice, August's two invoices (the organization's usage, closed, and a
    second one for a linked project's support plan), September's pending one. Line items per
    SKU per usage day, in integer cents; a credit on 15 August."""
    invoices = []
    for month, status in (("2024-07", "PAID"), ("2024-08", "CLOSED"), ("2024-09", "PENDING")):
        first = date(int(month[:4]), int(month[5:7]), 1)
        items = []
        day = first
        while day.month == first.month:
            n = day.day
            items.append(LineItem(day.isoformat(), "ATLAS_AWS_INSTANCE_M30", 1300 + 37 * n))
            items.append(
                LineItem(
                    day.isoformat(), "ATLAS_AWS_STORAGE", 7 * n, quantity="120", unit="GB days"
                )
            )
            if n % 3 == 0:
                items.append(
                    LineItem(
                        day.isoformat(), "ATLAS_AWS_DATA_TRANSFER_SAME_REGION", n, None, unit="GB"
                    )
                )
            day += timedelta(days=1)
        if month == "2024-08":
            items.append(LineItem("2024-08-15", "CREDIT", -2500, None, quantity="1", unit="credit"))
        invoices.append(
            Invoice(f"66a0{month.replace('-', '')}0000000000000a", month, status, items)
        )
    support = [
        LineItem("2024-08-01", "ATLAS_SUPPORT_DEVELOPER", 4900, None, quantity="1", unit="month")
    ]
    invoices.insert(2, Invoice("66a0202408000000000000bb", "2024-08", "CLOSED", support))
    return invoices
