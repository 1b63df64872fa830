"""A client for CloudZero's AnyCost Stream API (v2 billing drops)."""

import hashlib
import ipaddress
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from anycost_pipeline.cloudzero.answers import (
    MonthListing,
    UnreadableMonth,
    listed_drops,
    month_listing,
)
from anycost_pipeline.cloudzero.errors import (
    CloudZeroError,
    ServerUnavailable,
    UnexpectedAnswer,
    error_for,
    unreachable,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.cloudzero.com"
DROPS_PATH = "/v2/connections/billing/anycost/{connection_id}/billing_drops"
VALIDATE_PATH = "/v2/connections/billing/anycost/validate_billing_drop"
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class RetryPolicy:
    """How long the client keeps trying one request, and how it waits in between.

    `retries` more attempts after the first, exponential backoff from `backoff` seconds; a
    `Retry-After` of at most `retry_after_cap` seconds is obeyed, a longer one ends the request
    at once (the caller holds the connection's lock meanwhile). No request takes longer than
    `budget_seconds`, waits included. After a write whose answer was lost or timed out, the
    client waits and reads the drop list until CloudZero answers it before sending the write
    again: CloudZero takes one request at a time per connection, and the first write may still
    be running. It waits `settle_seconds` after a timeout (by default one more timeout: a write
    that outlasted the timeout is given as long again), and at most `DROPPED_SETTLE` seconds
    after a dropped connection (the server closed it, so it is done with the request).
    """

    retries: int = 5
    backoff: float = 0.5
    retry_after_cap: float = 120.0
    budget_seconds: float = 900.0
    settle_seconds: float = 5.0

    def pause(self, attempt: int) -> float:
        """Exponential backoff with jitter, at most 30 s."""
        return min(30.0, self.backoff * 2**attempt) + random.uniform(0, self.backoff)


@dataclass(frozen=True)
class PlannedRequest:
    """One body of a month as planned, before its bytes are needed."""

    operation: str
    rows: int
    bytes: int
    sha256: str


class MonthRequests(Sequence[tuple[str, bytes, int]]):
    """A month's bodies `(operation, payload, rows)` in order: what each holds is known up
    front (`planned`, with the SHA-256 of each payload), its payload is fetched by
    `payload(index)` only when it is sent, so a month is never held whole in memory."""

    def __init__(self, planned: Sequence[PlannedRequest], payload: Callable[[int], bytes]) -> None:
        self.planned = tuple(planned)
        self._payload = payload

    @classmethod
    def of(cls, bodies: Sequence[tuple[str, bytes, int]]) -> "MonthRequests":
        """The requests of bodies given whole (or already a MonthRequests)."""
        if isinstance(bodies, MonthRequests):
            return bodies
        planned = [
            PlannedRequest(op, rows, len(payload), hashlib.sha256(payload).hexdigest())
            for op, payload, rows in bodies
        ]
        return cls(planned, lambda index: bodies[index][1])

    def __len__(self) -> int:
        return len(self.planned)

    def __getitem__(self, index: int) -> tuple[str, bytes, int]:  # type: ignore[override]
        plan = self.planned[index]
        return plan.operation, self._payload(index), plan.rows

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.planned)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.planned)


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


class SubmissionStopped(CloudZeroError):
    """A body of a month failed: `accepted` are the bodies CloudZero acknowledged before it.

    `maybe_applied` is true when the failing body's answer was lost (timeout, dropped
    connection): CloudZero may hold it although it never said so.
    """

    def __init__(
        self,
        cause: CloudZeroError,
        month: str,
        accepted: list[SentBody],
        planned: int,
        maybe_applied: bool,
    ) -> None:
        self.cause = cause
        self.month = month
        self.accepted = accepted
        self.planned = planned
        self.maybe_applied = maybe_applied
        self._describe(str(cause), cause.status, cause.server_message, cause.advice, cause.host)


class BodyUnreadable(CloudZeroError):
    """A body could not be read to be sent (its bytes are not those planned): it never left
    this machine."""

    def __init__(self, index: int, error: Exception) -> None:
        text = f"Body {index + 1} could not be read to be sent ({error}); it was not sent."
        self._describe(text, None, str(error), "", "")


def idempotency_key(
    connection_id: str, month: str, index: int, content: str, submission: str = ""
) -> str:
    """Same connection, month, chunk, content and submission → same key.

    A request retried after a lost answer carries the same key, so CloudZero applies it once.
    The submission id keeps a later submission of the same content (e.g. A, then B, then A
    again) from being answered from CloudZero's memory instead of being applied. `content` is
    the SHA-256 of the body's payload.
    """
    return hashlib.sha256(
        f"{connection_id}|{month}|{index}|{content}|{submission}".encode()
    ).hexdigest()


API_VERSION = "/v2"  # every path of the reference starts with it (DROPS_PATH, VALIDATE_PATH)


def api_base_url(url: str) -> str:
    """The API's base as the paths are appended to it: surrounding space and a trailing `/`
    removed, and a trailing `/v2` too (the reference's paths start with it; a base written
    with it, as CloudZero's docs show the API, would ask for /v2/v2/... and get 404)."""
    base = url.strip().rstrip("/")
    return base.removesuffix(API_VERSION) if base.endswith(API_VERSION) else base


def require_api_base(base_url: str) -> None:
    """Refuse a base that holds more of the API's path than its version (e.g. a copied
    billing_drops URL), a query or a fragment, before anything is sent."""
    parts = urlsplit(base_url)
    if f"{API_VERSION}/" in parts.path + "/" or parts.query or parts.fragment or not parts.netloc:
        root = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "https://api.cloudzero.com"
        raise ValueError(
            f"CLOUDZERO_API_URL {base_url!r} is not the API's base address; nothing was sent. "
            f"Set it to {root} (the adaptor adds {API_VERSION}/connections/billing/anycost/...), "
            "or unset it to use CloudZero's https://api.cloudzero.com"
        )


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_tls(base_url: str) -> None:
    scheme = urlsplit(base_url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback(base_url)):
        return
    raise ValueError(
        f"refusing API URL {base_url!r}: the API key may only travel over https "
        "(plain http is allowed for 127.0.0.1/localhost, the local sandbox)"
    )


def clean_key(api_key: str | None) -> str:
    """The key as sent: surrounding white space (a secret file's newline) removed once."""
    key = (api_key or "").strip()
    if not key:
        raise ValueError("an API key is required (set CLOUDZERO_API_KEY)")
    if any(c.isspace() or ord(c) < 32 for c in key):
        raise ValueError(
            "CLOUDZERO_API_KEY holds a space or a line break inside it; copy the key again"
        )
    return key


DROPPED_SETTLE = 1.0


class _LostAnswer(Exception):
    """The request may have reached the server, but no answer came back."""

    def __init__(self, cause: BaseException, timed_out: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.timed_out = timed_out


class AnyCostClient:
    """Calls the four AnyCost Stream endpoints with timeouts and retries that keep CloudZero's
    rule of one request at a time per connection."""

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
        retry_after_cap: float = 120.0,
        budget_seconds: float = 900.0,
        settle_seconds: float | None = None,
    ) -> None:
        base_url = api_base_url(base_url)
        require_api_base(base_url)
        _require_tls(base_url)
        key = clean_key(api_key)
        self.base_url = base_url
        parts = urlsplit(self.base_url)
        self.host = (
            parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""
        )
        self.timeout = (min(connect_timeout, timeout), timeout)
        self.policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            retry_after_cap=retry_after_cap,
            budget_seconds=budget_seconds,
            settle_seconds=timeout if settle_seconds is None else settle_seconds,
        )
        self._api_key = key
        self._session = requests.Session()
        # Retries are this class's own (see RetryPolicy); urllib3 must not resend anything.
        self._session.mount("http://", HTTPAdapter(max_retries=0))
        self._session.mount("https://", HTTPAdapter(max_retries=0))
        # The local sandbox is on this machine: a proxy from the environment must not carry it.
        self._session.trust_env = not is_loopback(self.base_url)
        self._session.headers.update({"Authorization": key, "Content-Type": "application/json"})
        if test_key and test_key.strip():
            self._session.headers["cloudzero-test-key"] = test_key.strip()

    def __repr__(self) -> str:  # never show the key
        return f"AnyCostClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def _once(self, method: str, path: str, body: bytes | None, key: str | None) -> Any:
        """One attempt: the answer, or `_LostAnswer`/`ServerUnavailable` for no answer."""
        headers = {"cloudzero-idempotency-key": key} if key else {}
        try:
            return self._session.request(
                method, self.base_url + path, data=body, headers=headers, timeout=self.timeout
            )
        except (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
            raise unreachable(self.host, f"{method} {path}", exc) from None
        except requests.exceptions.ConnectionError as exc:
            if "NewConnectionError" in repr(exc) or "ProxyError" in type(exc).__name__:
                raise unreachable(self.host, f"{method} {path}", exc) from None
            raise _LostAnswer(exc, timed_out=False) from None  # the connection broke: no answer
        except requests.exceptions.Timeout as exc:  # sent; the answer did not come in time
            raise _LostAnswer(exc, timed_out=True) from None
        except requests.RequestException as exc:
            raise unreachable(self.host, f"{method} {path}", exc) from None

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        key: str | None = None,
        quiet_path: str | None = None,
    ) -> Any:
        """One request with retries. `quiet_path` (for writes to a connection): the drop list
        read after a lost answer, before the write is sent again."""
        policy = self.policy
        deadline = time.monotonic() + policy.budget_seconds
        attempt, settle = 0, policy.settle_seconds
        lost = False  # the last attempt got no answer: wait for the connection to be free
        maybe_applied = False  # some attempt got no answer: CloudZero may have applied it

        def give_up(failure: CloudZeroError) -> CloudZeroError:
            return _MaybeApplied(failure) if maybe_applied and quiet_path else failure

        while True:
            if lost and quiet_path:
                try:
                    self._await_quiet(quiet_path, deadline, settle)
                except CloudZeroError as error:
                    raise _MaybeApplied(error) from None
            failure: CloudZeroError
            try:
                response = self._once(method, path, body, key)
            except _LostAnswer as exc:
                lost = maybe_applied = True
                settle = policy.settle_seconds
                if not exc.timed_out:
                    settle = min(settle, DROPPED_SETTLE)
                failure = unreachable(self.host, f"{method} {path}", exc.cause)
                wait = policy.pause(attempt)
            except ServerUnavailable as exc:
                lost, failure, wait = False, exc, policy.pause(attempt)
            else:
                lost = False  # an answer came: the server is done with this attempt
                if response.status_code < 400:
                    return self._json(response, method, path)
                message = _server_message(response, self._api_key)
                failure = error_for(response.status_code, message, self.host)
                if response.status_code not in RETRY_STATUSES:
                    raise give_up(failure)
                asked = _retry_after(response)
                if asked is not None and asked > policy.retry_after_cap:
                    raise give_up(
                        error_for(
                            response.status_code,
                            f"{message} (it asked to wait {asked:.0f} s before trying again, "
                            f"more than cloudzero.retry_after_cap_seconds, "
                            f"{policy.retry_after_cap:.0f} s)",
                            self.host,
                        )
                    )
                wait = policy.pause(attempt) if asked is None else asked
            if attempt >= policy.retries or time.monotonic() + wait > deadline:
                raise give_up(failure)
            log.info(
                "%s %s: %s; retrying in %.1f s (attempt %d of %d)",
                method, path, failure.server_message, wait, attempt + 2, policy.retries + 1,
            )  # fmt: skip
            time.sleep(wait)
            attempt += 1

    def _await_quiet(self, list_path: str, deadline: float, settle: float) -> None:
        """After a lost write answer: wait `settle` seconds, then read the drop list until
        CloudZero answers it, so the write is never sent again while the first may still run."""
        time.sleep(max(0.0, min(settle, deadline - time.monotonic())))
        while True:
            try:
                response = self._once("GET", list_path, None, None)
            except (_LostAnswer, ServerUnavailable):
                response = None
            if response is not None and response.status_code < 400:
                return
            if response is not None and response.status_code not in RETRY_STATUSES:
                raise error_for(
                    response.status_code, _server_message(response, self._api_key), self.host
                )
            asked = _retry_after(response) if response is not None else None
            wait = min(asked if asked is not None else max(settle, 0.1), 30.0)
            if time.monotonic() + wait > deadline:
                raise ServerUnavailable(
                    None,
                    "a write's answer was lost and the connection did not become free in time",
                    "CloudZero may hold that write; read the month before sending it again.",
                    self.host,
                )
            time.sleep(wait)

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise UnexpectedAnswer(
                f"HTTP {response.status_code} to {method} {path} is not JSON",
                "Check CLOUDZERO_API_URL points at the AnyCost Stream API (a proxy or portal "
                "may be answering).",
                self.host,
            ) from None

    def _field(self, answer: Any, name: str) -> Any:
        """A documented field of a success answer, or a typed error when the answer lacks it."""
        if not isinstance(answer, dict) or name not in answer:
            raise UnexpectedAnswer(
                f"an answer without the documented field {name!r}",
                "Check CLOUDZERO_API_URL points at the AnyCost Stream API.",
                self.host,
            )
        return answer[name]

    def create_billing_drop(self, connection_id: str, body: bytes, idempotency_key: str) -> dict:
        """POST one body; returns `{"drop_id", "month", "row_count"}`."""
        path = DROPS_PATH.format(connection_id=connection_id)
        answer = self._call("POST", path, body=body, key=idempotency_key, quiet_path=path)
        return self._field(answer, "connection")

    def list_billing_drops(self, connection_id: str) -> list[dict]:
        """The connection's drops, as CloudZero lists them."""
        answer = self._call("GET", DROPS_PATH.format(connection_id=connection_id))
        return self._field(answer, "billing_drops")

    def month_drops(
        self, connection_id: str, month: str, drop_id: str | None = None
    ) -> MonthListing:
        """What the drop list says of the month (`YYYY-MM`): its entries, and ours (by drop id,
        else the newest), whatever ISO form CloudZero writes the month in."""
        try:
            return month_listing(self.list_billing_drops(connection_id), month, drop_id)
        except UnreadableMonth as error:
            raise UnexpectedAnswer(
                f"the drop list of connection {connection_id}: {error}",
                "Check CLOUDZERO_API_URL points at the AnyCost Stream API.",
                self.host,
            ) from None

    def listed_months(self, connection_id: str) -> list[str]:
        """The months (`YYYY-MM`) the connection's drop list holds drops for."""
        try:
            return sorted({d.month for d in listed_drops(self.list_billing_drops(connection_id))})
        except UnreadableMonth as error:
            raise UnexpectedAnswer(
                f"the drop list of connection {connection_id}: {error}",
                "Check CLOUDZERO_API_URL points at the AnyCost Stream API.",
                self.host,
            ) from None

    def get_billing_drop(self, connection_id: str, month: str) -> list[dict]:
        """The rows CloudZero holds for one month."""
        path = DROPS_PATH.format(connection_id=connection_id) + f"/{month}"
        return self._field(self._call("GET", path), "billing_drop")

    def validate_billing_drop(self, body: bytes) -> dict:
        """Ask CloudZero whether a body is valid, without storing it: `{"is_valid", "errors"}`."""
        return self._field(self._call("POST", VALIDATE_PATH, body=body), "connection")

    def submit_month(
        self,
        connection_id: str,
        month: str,
        bodies: Sequence[tuple[str, bytes, int]],
        *,
        submission_id: str | None = None,
        acknowledged: dict[int, SentBody] | None = None,
        on_ack: Callable[[int, SentBody], None] | None = None,
    ) -> Submission:
        """Send a month's bodies `(operation, payload, rows)` one at a time, in order (a
        `MonthRequests` builds each payload just before it is sent and lets it go after).

        `acknowledged` are bodies of this submission CloudZero acknowledged in an earlier run:
        they are not sent again. `on_ack` is called as each new body is acknowledged, before
        the next is sent (the submission journal). A failing body raises `SubmissionStopped`,
        which names the bodies CloudZero accepted before it: a half-sent month is never
        reported as submitted, nor as not sent.
        """
        submission_id = submission_id or uuid.uuid4().hex
        started = time.monotonic()
        done = dict(acknowledged or {})
        requests = MonthRequests.of(bodies)
        for index in range(len(requests)):
            if index in done:
                continue  # its payload is not even built
            accepted = [done[i] for i in sorted(done)]
            try:
                operation, payload, rows = requests[index]
            except Exception as error:  # noqa: BLE001 (whatever it is, the body was not sent)
                stopped = BodyUnreadable(index, error)
                raise SubmissionStopped(stopped, month, accepted, len(bodies), False) from error
            # The planned hash of this payload: MonthBodies checks each payload it reads against it.
            content = requests.planned[index].sha256
            key = idempotency_key(connection_id, month, index, content, submission_id)
            try:
                answer = self.create_billing_drop(connection_id, payload, key)
            except _MaybeApplied as lost:
                raise SubmissionStopped(lost.cause, month, accepted, len(bodies), True) from None
            except CloudZeroError as error:
                raise SubmissionStopped(error, month, accepted, len(bodies), False) from None
            log.info(
                "sent body %d/%d of %s (%s, %d rows)",
                index + 1,
                len(bodies),
                month,
                operation,
                rows,
            )
            done[index] = SentBody(
                operation, str(answer.get("drop_id", "")), rows, len(payload), key
            )
            if on_ack is not None:
                on_ack(index, done[index])
        sent = [done[i] for i in sorted(done)]
        return Submission(connection_id, month, sent, time.monotonic() - started, submission_id)


class _MaybeApplied(CloudZeroError):
    """A write whose last attempt got no answer: CloudZero may have applied it."""

    def __init__(self, cause: CloudZeroError) -> None:
        self.cause = cause
        self._describe(str(cause), cause.status, cause.server_message, cause.advice, cause.host)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date), if any."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


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


__all__ = [
    "AnyCostClient",
    "CloudZeroError",
    "MonthRequests",
    "PlannedRequest",
    "RetryPolicy",
    "SentBody",
    "Submission",
    "SubmissionStopped",
    "idempotency_key",
]
