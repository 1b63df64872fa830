"""The sandbox's HTTP server: CloudZero's four AnyCost Stream operations on 127.0.0.1.

It answers as the reference does (see `reference.py`); the `Answers` setting picks among the
forms CloudZero may use where the reference leaves room, and `Faults` injects the failures a
client must survive.
"""

import json
import logging
import random
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from anycost_pipeline.cloudzero.sandbox.parse import parse_body
from anycost_pipeline.cloudzero.sandbox.reference import (
    AUTHORIZATION,
    BASE_PATH,
    IDEMPOTENCY_KEY,
    MAX_BODY_BYTES,
    MAX_GZIP_BYTES,
    MONTH_FORMS,
    TEST_KEY,
    VALIDATE_PATH,
    MonthForm,
    error_body,
    month_text,
    parse_month,
)
from anycost_pipeline.cloudzero.sandbox.rules import body_errors
from anycost_pipeline.cloudzero.sandbox.store import Request, SandboxStore

log = logging.getLogger(__name__)

BASE = BASE_PATH
DROPS = re.compile(rf"^{BASE}/(?P<cid>[^/]+)/billing_drops(?:/(?P<month>[^/]+))?/?$")
VALIDATE = VALIDATE_PATH

# Counters, kept in the SQLite file and readable from /sandbox/stats and SandboxServer.stats().
REQUESTS = "requests"  # every API request received, for tests that count retries
CONCURRENT = "concurrent_requests"  # requests refused because another was in flight
INJECTED_503 = "injected_503"  # writes answered 503 before applying (Faults.error_rate)
INJECTED_429 = "injected_429"  # writes answered 429 with Retry-After (Faults.throttle_rate)
INJECTED_LOST = "injected_lost"  # writes applied, connection dropped (Faults.lost_rate)
INJECTED_SLOW = "injected_slow"  # writes applied, answer held (Faults.slow_rate)
INJECTED_READ_503 = "injected_read_503"  # reads answered 503 (Faults.read_error_rate)
COUNTERS = (
    REQUESTS,
    CONCURRENT,
    INJECTED_503,
    INJECTED_429,
    INJECTED_LOST,
    INJECTED_SLOW,
    INJECTED_READ_503,
)

Listing = Literal["month", "drops"]

# A body answered without being read is discarded, up to this much and this long, before the
# connection closes: closing with bytes unread resets it, and a client still sending would never
# see the answer. Nothing discarded is kept.
DISCARD_BYTES = 2 * MAX_GZIP_BYTES
DISCARD_SECONDS = 2.0


@dataclass
class Faults:
    """Failures the sandbox injects for tests; all off by default, repeatable with `seed`.

    Rates are shares of requests (0 to 1). Writes are billing drop creations; reads are GETs.
    """

    error_rate: float = 0.0  # writes answered 503 before applying
    lost_rate: float = 0.0  # writes applied, then the connection dropped without an answer
    delay: float = 0.0  # seconds to wait before answering a write
    seed: int | None = None
    throttle_rate: float = 0.0  # writes answered 429 with Retry-After, not applied
    retry_after_seconds: int = 1  # the Retry-After of an injected 429
    slow_rate: float = 0.0  # writes applied, then the answer held for slow_seconds
    slow_seconds: float = 5.0  # set above the client's read timeout; the connection stays busy
    read_error_rate: float = 0.0  # reads answered 503
    # Reads of a connection answered 503 once it holds a drop: a read path that fails after
    # the writes went through (the first read, before any write, is answered).
    reads_fail_after_writes: bool = False

    def __post_init__(self) -> None:
        for name in ("error_rate", "lost_rate", "throttle_rate", "slow_rate", "read_error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"Faults.{name} must be between 0 and 1, got {getattr(self, name)}"
                )
        for name in ("delay", "slow_seconds", "retry_after_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must not be negative, got {getattr(self, name)}")


@dataclass(frozen=True)
class Answers:
    """How the sandbox spells its answers, among the forms CloudZero may use.

    month_form: "datetime" 2024-08-01T00:00:00Z (the reference's form), "fraction"
    2024-08-01T00:00:00.000Z, "offset" 2024-08-01T00:00:00+00:00, "short" 2024-08.
    listing: "month" lists each month once (its latest drop id and the rows it holds now);
    "drops" lists every accepted drop, oldest first, with that drop's own row count.
    """

    month_form: MonthForm = "datetime"
    listing: Listing = "month"

    def __post_init__(self) -> None:
        if self.month_form not in MONTH_FORMS:
            raise ValueError(
                f"Answers.month_form must be one of {', '.join(MONTH_FORMS)}, "
                f"got {self.month_form!r}"
            )
        if self.listing not in get_args(Listing):
            raise ValueError(
                f"Answers.listing must be one of {', '.join(get_args(Listing))}, "
                f"got {self.listing!r}"
            )


class _Handler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers, 40 ms per answer on Linux.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # quiet; never log headers
        log.debug("sandbox: " + format, *args)

    # Sending

    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(body).encode(), headers)

    def _error(
        self,
        status: int,
        message: str,
        kind: str = "validation_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(status, error_body(status, message, kind), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        if getattr(self, "_holding", False):
            self._pending = (status, data, headers)  # sent once the connection is released
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (its timeout)

    # Request context

    def _authorised(self) -> bool:
        key = self.headers.get(AUTHORIZATION, "")
        expected = self.server.api_key
        if not key or key.startswith("Bearer ") or (expected is not None and key != expected):
            self._error(403, "Forbidden: invalid or missing API key")
            return False
        return True

    def _namespace(self, connection_id: str) -> str:
        test_key = self.headers.get(TEST_KEY)
        return f"{connection_id}#test:{test_key}" if test_key else connection_id

    def _draw(self, rate: float) -> bool:
        """Whether an injected fault of this rate strikes (draws only when the fault is on)."""
        return bool(rate) and self.server.random() < rate

    def _replay(self, scope: str) -> bool:
        """Answer from the idempotency key's memory if it has one for this scope."""
        key = self.headers.get(IDEMPOTENCY_KEY)
        remembered = self.server.store.remembered_text(key, scope) if key else None
        if remembered is None:
            return False
        self._send_raw(remembered[0], remembered[1].encode())
        return True

    def _answer_once(self, scope: str, status: int, text: str) -> None:
        """Send an answer, remembering it under the idempotency key (successes and errors)."""
        key = self.headers.get(IDEMPOTENCY_KEY)
        if key:
            self.server.store.remember_text(key, scope, status, text)
        self._send_raw(status, text.encode())

    # One request at a time per connection

    def _request(self) -> Request:
        """This request as the overlap log keeps it."""
        key = self.headers.get(IDEMPOTENCY_KEY)
        return Request(self.command, urlsplit(self.path).path, key)

    def _alone_or_429(self, cid: str) -> str | None:
        """Claim the connection for this request; answer 429 (and count it) if it is busy."""
        request = self._request()
        token = self.server.store.claim(cid, request)
        if token is None:
            self.server.store.count(CONCURRENT)
            log.warning(
                "sandbox: %s arrived while another request was in flight on %s", request, cid
            )
            self._error(
                429, "Too Many Requests: another request for this connection is in progress"
            )
        return token

    def _claimed(self, cid: str, work: Callable[[str], None]) -> None:
        """Do `work` (given the claim's token) as the connection's only request; answer after
        releasing the connection, so a client that sends its next request the moment it reads
        this answer is not refused."""
        token = self._alone_or_429(cid)
        if token is None:
            return
        self._holding, self._pending = True, None
        try:
            work(token)
        finally:
            self._holding = False
            self.server.store.release(cid, token)
        if self._pending is not None:
            self._send_raw(*self._pending)

    # Routes

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/sandbox/stats":
            if self._authorised():
                self._send(200, self.server.stats())
            return
        self.server.store.count(REQUESTS)
        if not self._authorised():
            return
        match = DROPS.match(path)
        if not match:
            self._error(404, f"no such endpoint: GET {path}", "not_found")
            return
        failing = self.server.faults.reads_fail_after_writes and self.server.store.drops(
            self._namespace(unquote(match["cid"]))
        )
        if failing or self._draw(self.server.faults.read_error_rate):
            self.server.store.count(INJECTED_READ_503)
            self._error(503, "Service Unavailable (injected by the sandbox)")
            return
        cid = self._namespace(unquote(match["cid"]))
        month = unquote(match["month"]) if match["month"] is not None else None
        scope = f"{cid} GET {path}"

        def answer(_token: str) -> None:
            if self._replay(scope):
                return
            if month is None:
                self._answer_once(scope, 200, json.dumps({"billing_drops": self._listing(cid)}))
                return
            key, problem = parse_month(month)
            if key is None:
                body = error_body(400, f"month: {problem}", "validation_error")
                self._answer_once(scope, 400, json.dumps(body))
            elif not self.server.store.has_month(cid, key):
                body = error_body(404, f"no billing drop for {key}", "not_found")
                self._answer_once(scope, 404, json.dumps(body))
            else:
                rows = self.server.store.month_row_texts(cid, key)
                # Rows are stored as JSON text: join them rather than parse and re-encode.
                self._answer_once(scope, 200, '{"billing_drop":[' + ",".join(rows) + "]}")

        self._claimed(cid, answer)

    def do_POST(self) -> None:
        self.server.store.count(REQUESTS)
        # The key and the declared size are checked before a byte of the body is read.
        length = self._declared_length() if self._authorised() else None
        if length is None:
            self._discard_body()
            return
        received = self.rfile.read(length) if length else b""
        if len(received) < length:
            # The client went away before its body arrived whole (a killed process): half a
            # request is neither applied, answered nor remembered under its idempotency key.
            self.close_connection = True
            return
        raw_or_none = self._uncompressed(received)
        if raw_or_none is None:
            return
        raw = raw_or_none
        path = urlsplit(self.path).path
        if path == VALIDATE:
            self._validate(raw)
            return
        match = DROPS.match(path)
        if not match or match["month"]:
            self._error(404, f"no such endpoint: POST {path}", "not_found")
            return
        cid = self._namespace(unquote(match["cid"]))
        self._claimed(cid, lambda token: self._create(cid, token, raw))

    def _no_such_method(self) -> None:
        self.close_connection = True  # its body, if any, is left unread
        self.server.store.count(REQUESTS)
        self._error(
            404, f"no such endpoint: {self.command} {urlsplit(self.path).path}", "not_found"
        )

    do_PUT = do_PATCH = do_DELETE = _no_such_method

    def _declared_length(self) -> int | None:
        """The body's Content-Length, or None after answering 411, 400 or 413 for it."""
        if self.headers.get("Transfer-Encoding"):
            self._error(411, "Length Required: send the body with a Content-Length header")
            return None
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():
            self._error(400, f"Content-Length {text!r} is not a number of bytes")
            return None
        length = int(text)
        gzip = (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip"
        if length > (MAX_GZIP_BYTES if gzip else MAX_BODY_BYTES):
            measured = f"{length:,} bytes gzipped, so" if gzip else f"{length:,} bytes,"
            self._error(
                413,
                f"Request Entity Too Large: the body is {measured} over the limit of "
                f"{MAX_BODY_BYTES:,} bytes (uncompressed) per request",
            )
            return None
        return length

    def _discard_body(self) -> None:
        """After answering a request whose body was not read: discard a bounded part of it,
        then close the connection (the unread rest must never be read as a next request)."""
        self.close_connection = True
        text = (self.headers.get("Content-Length") or "0").strip()
        left = min(int(text), DISCARD_BYTES) if text.isdigit() else 0
        deadline = time.monotonic() + DISCARD_SECONDS
        try:
            self.connection.settimeout(DISCARD_SECONDS)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass  # the client went away or stopped sending: the answer is already out

    def _uncompressed(self, raw: bytes) -> bytes | None:
        """The body as CloudZero measures it (uncompressed), or None after answering 413/400."""
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            # Never inflate more than one byte past the limit: a small body may unpack huge.
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                raw = inflater.decompress(raw, MAX_BODY_BYTES + 1)
            except zlib.error as exc:
                self._error(400, f"the body is not valid gzip: {exc}")
                return None
            if len(raw) <= MAX_BODY_BYTES and not inflater.eof:
                self._error(400, "the body is not valid gzip: it ends early")
                return None
        elif encoding != "identity":
            self._error(400, f"Content-Encoding {encoding!r} is not supported; use gzip or none")
            return None
        if len(raw) > MAX_BODY_BYTES:
            if encoding == "identity":
                measured = f"the body is {len(raw):,} bytes,"
            else:
                measured = "the body, uncompressed, is"
            self._error(
                413,
                f"Request Entity Too Large: {measured} over the limit of "
                f"{MAX_BODY_BYTES:,} bytes per request",
            )
            return None
        return raw

    def _listing(self, cid: str) -> list[dict]:
        answers, store = self.server.answers, self.server.store
        drops = store.drops(cid) if answers.listing == "month" else store.drop_history(cid)
        return [{**d, "month": month_text(d["month"], answers.month_form)} for d in drops]

    def _validate(self, raw: bytes) -> None:
        scope = f"{self._namespace('')} POST {VALIDATE}"
        if self._replay(scope):
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            answer = error_body(400, f"the body is not JSON: {exc}", "validation_error")
            self._answer_once(scope, 400, json.dumps(answer))
            return
        _, _, _, errors = body_errors(body)
        answer = {"connection": {"is_valid": not errors, "errors": errors}}
        self._answer_once(scope, 200, json.dumps(answer))

    def _create(self, cid: str, token: str, raw: bytes) -> None:
        faults, store = self.server.faults, self.server.store
        if faults.delay:
            time.sleep(faults.delay)
        # Scoped by connection only, as the sandbox always did, so older state still replays.
        if self._replay(cid):
            return
        if self._draw(faults.error_rate):
            store.count(INJECTED_503)
            self._error(503, "Service Unavailable (injected by the sandbox)")
            return
        if self._draw(faults.throttle_rate):
            store.count(INJECTED_429)
            self._error(
                429,
                "Too Many Requests (injected by the sandbox): retry after "
                f"{faults.retry_after_seconds} s",
                headers={"Retry-After": str(faults.retry_after_seconds)},
            )
            return
        try:
            body, text = parse_body(raw)
        except ValueError as exc:
            status = 400
            answer = error_body(400, f"the body is not JSON: {exc}", "validation_error")
        else:
            month, operation, rows, errors = body_errors(body)
            if errors or month is None or operation is None:
                status, answer = 400, error_body(400, "; ".join(errors), "validation_error")
            else:
                receipt = store.apply(cid, month, operation, rows, text)
                receipt["month"] = month_text(month, self.server.answers.month_form)
                status, answer = 200, {"connection": receipt}
        text = json.dumps(answer)
        key = self.headers.get(IDEMPOTENCY_KEY)
        if key:
            store.remember_text(key, cid, status, text)
        if status == 200 and self._draw(faults.lost_rate):
            store.count(INJECTED_LOST)
            self.close_connection = True  # applied, but the client never hears of it
            return
        if status == 200 and self._draw(faults.slow_rate):
            store.count(INJECTED_SLOW)
            # Still claimed: like a CloudZero request that runs on after the client gave up.
            store.hold(cid, token)
            time.sleep(faults.slow_seconds)
        self._send_raw(status, text.encode())


class SandboxServer(ThreadingHTTPServer):
    """A running sandbox; use as a context manager or call close()."""

    daemon_threads = True

    def __init__(
        self,
        store: SandboxStore,
        host: str,
        port: int,
        api_key: str | None,
        faults: Faults,
        answers: Answers | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.store = store
        self.api_key = api_key
        self.faults = faults
        self.answers = answers or Answers()
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stats(self) -> dict[str, int]:
        """Counters kept in the shared SQLite file (so they cover every process using it)."""
        return {name: self.store.counter(name) for name in COUNTERS}

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that goes away mid-request (killed, timed out) is normal here, not a fault
        # of the server: keep the traceback out of the terminal.
        log.debug("sandbox: request from %s ended abruptly", client_address, exc_info=True)

    def random(self) -> float:
        with self._lock:
            return self._random.random()

    def start(self) -> "SandboxServer":
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="cloudzero-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "SandboxServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_sandbox(
    folder: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    faults: Faults | None = None,
    answers: Answers | None = None,
) -> SandboxServer:
    """Start a sandbox server in a background thread (port 0: any free port)."""
    store = SandboxStore(folder)
    return SandboxServer(store, host, port, api_key, faults or Faults(), answers).start()
