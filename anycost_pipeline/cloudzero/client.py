"""A client for CloudZero's AnyCost Stream API (v2 billing drops)."""

import hashlib
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from anycost_pipeline.cloudzero.errors import CloudZeroError, ServerUnavailable, error_for

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.cloudzero.com"
DROPS_PATH = "/v2/connections/billing/anycost/{connection_id}/billing_drops"
VALIDATE_PATH = "/v2/connections/billing/anycost/validate_billing_drop"
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class SentBody:
    """What CloudZero acknowledged for one body."""

    operation: str
    drop_id: str
    rows: int
    bytes: int
    idempotency_key: str


@dataclass(frozen=True)
class Submission:
    """The receipt of one month sent in one or more bodies."""

    connection_id: str
    month: str
    bodies: list[SentBody] = field(default_factory=list)
    seconds: float = 0.0
    submission_id: str = ""

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.bodies)

    @property
    def bytes(self) -> int:
        return sum(b.bytes for b in self.bodies)


def idempotency_key(
    connection_id: str, month: str, index: int, payload: bytes, submission: str = ""
) -> str:
    """Same connection, month, chunk, content and submission → same key.

    A request retried after a lost answer carries the same key, so CloudZero applies it once.
    The submission id keeps a later submission of the same content (e.g. A, then B, then A
    again) from being answered from CloudZero's memory instead of being applied.
    """
    content = hashlib.sha256(payload).hexdigest()
    return hashlib.sha256(
        f"{connection_id}|{month}|{index}|{content}|{submission}".encode()
    ).hexdigest()


def _require_tls(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ValueError(
            f"refusing API URL {base_url!r}: the API key may only travel over https "
            "(plain http is allowed for 127.0.0.1/localhost, the local sandbox)"
        )


class AnyCostClient:
    """Calls the four AnyCost Stream endpoints with timeouts and safe retries."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        test_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        _require_tls(base_url)
        if not api_key:
            raise ValueError("an API key is required (set CLOUDZERO_API_KEY)")
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(connect_timeout, timeout), timeout)
        self._api_key = api_key
        self._session = requests.Session()
        # Writes carry an idempotency key, so retrying a POST (even one whose answer was lost
        # after CloudZero applied it) cannot apply it twice. allowed_methods=None makes urllib3
        # retry read errors and 5xx on POST too; 400/403/413 are never in the status list.
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=retries,
            backoff_factor=backoff,
            backoff_jitter=backoff,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self._session.headers.update({"Authorization": api_key, "Content-Type": "application/json"})
        if test_key:
            self._session.headers["cloudzero-test-key"] = test_key

    def __repr__(self) -> str:  # never show the key
        return f"AnyCostClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def _call(
        self, method: str, path: str, *, body: bytes | None = None, key: str | None = None
    ) -> Any:
        headers = {"cloudzero-idempotency-key": key} if key else {}
        try:
            response = self._session.request(
                method, self.base_url + path, data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            # The exception text may hold the URL but never the headers.
            raise ServerUnavailable(
                None, f"{type(exc).__name__} calling {method} {path}", "Retry the run later."
            ) from None
        if response.status_code >= 400:
            # A server may echo the request; the key must never reach an exception or a log.
            message = _server_message(response, self._api_key)
            raise error_for(response.status_code, message)
        try:
            return response.json()
        except ValueError:
            raise ServerUnavailable(
                response.status_code,
                f"an answer to {method} {path} that is not JSON",
                "Check CLOUDZERO_API_URL points at the AnyCost Stream API (a proxy or portal may be answering).",
            ) from None

    def create_billing_drop(self, connection_id: str, body: bytes, idempotency_key: str) -> dict:
        """POST one body; returns `{"drop_id", "month", "row_count"}`."""
        answer = self._call(
            "POST", DROPS_PATH.format(connection_id=connection_id), body=body, key=idempotency_key
        )
        return _field(answer, "connection")

    def list_billing_drops(self, connection_id: str) -> list[dict]:
        """The connection's drops, as CloudZero lists them."""
        return _field(
            self._call("GET", DROPS_PATH.format(connection_id=connection_id)), "billing_drops"
        )

    def month_drop(self, connection_id: str, month: str) -> dict | None:
        """The drop CloudZero lists for the month (its `row_count`, `drop_id`, ...), or None."""
        return {d["month"]: d for d in self.list_billing_drops(connection_id)}.get(month)

    def get_billing_drop(self, connection_id: str, month: str) -> list[dict]:
        """The rows CloudZero holds for one month."""
        path = DROPS_PATH.format(connection_id=connection_id) + f"/{month}"
        return _field(self._call("GET", path), "billing_drop")

    def validate_billing_drop(self, body: bytes) -> dict:
        """Ask CloudZero whether a body is valid, without storing it: `{"is_valid", "errors"}`."""
        return _field(self._call("POST", VALIDATE_PATH, body=body), "connection")

    def submit_month(
        self,
        connection_id: str,
        month: str,
        bodies: Sequence[tuple[str, bytes, int]],
        *,
        submission_id: str | None = None,
    ) -> Submission:
        """Send a month's bodies `(operation, payload, rows)` one at a time, in order.

        Any failure raises: a half-sent month is never reported as submitted, and sending the
        month again from the first body gives the right state.
        """
        submission_id = submission_id or uuid.uuid4().hex
        started = time.monotonic()
        sent: list[SentBody] = []
        for index, (operation, payload, rows) in enumerate(bodies):
            key = idempotency_key(connection_id, month, index, payload, submission_id)
            answer = self.create_billing_drop(connection_id, payload, key)
            log.info(
                "sent body %d/%d of %s (%s, %d rows)",
                index + 1,
                len(bodies),
                month,
                operation,
                rows,
            )
            sent.append(
                SentBody(operation, str(answer.get("drop_id", "")), rows, len(payload), key)
            )
        return Submission(connection_id, month, sent, time.monotonic() - started, submission_id)


def _field(answer: Any, name: str) -> Any:
    """A documented field of a success answer, or a typed error when the answer lacks it."""
    if not isinstance(answer, dict) or name not in answer:
        raise ServerUnavailable(
            None,
            f"an answer without the documented field {name!r}",
            "Check CLOUDZERO_API_URL points at the AnyCost Stream API.",
        )
    return answer[name]


def _server_message(response: requests.Response, api_key: str) -> str:
    # A server may echo the request: hide the key before cutting, so no part of it survives.
    text = (response.text or response.reason or "no message").replace(api_key, "[API key hidden]")
    try:
        body = json.loads(text)
    except (ValueError, json.JSONDecodeError):
        return text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind = f" ({error['type']})" if error.get("type") else ""
            return f"{error.get('message', 'no message')}{kind}"
        if "message" in body:
            return str(body["message"])
    return json.dumps(body)[:500]


__all__ = ["AnyCostClient", "CloudZeroError", "Submission", "SentBody", "idempotency_key"]
