"""The sandbox's HTTP server: CloudZero's four AnyCost Stream endpoints on 127.0.0.1."""

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox.rules import MONTH, body_errors
from anycost_pipeline.cloudzero.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5_000_000
BASE = "/v2/connections/billing/anycost"
DROPS = re.compile(rf"^{BASE}/(?P<cid>[^/]+)/billing_drops(?:/(?P<month>[^/]+))?/?$")
VALIDATE = f"{BASE}/validate_billing_drop"
CONCURRENT = "concurrent_requests"  # requests refused because another was in flight
REQUESTS = "requests"  # every API request received, for tests that count retries


@dataclass
class Faults:
    """Failures the sandbox injects for tests; all off by default."""

    error_rate: float = 0.0  # share of writes answered 503 before applying
    lost_rate: float = 0.0  # share of writes applied, then the connection dropped
    delay: float = 0.0  # seconds to wait before answering a write
    seed: int | None = None


class _Handler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet; never log headers
        log.debug("sandbox: " + format, *args)

    def _send(self, status: int, body: dict) -> None:
        self._send_raw(status, json.dumps(body).encode())

    def _error(self, status: int, message: str, kind: str = "validation_error") -> None:
        if status in (400, 404):
            self._send(status, {"error": {"message": message, "type": kind}})
        else:
            self._send(status, {"message": message})

    def _authorised(self) -> bool:
        key = self.headers.get("Authorization", "")
        expected = self.server.api_key
        if not key or key.startswith("Bearer ") or (expected is not None and key != expected):
            self._error(403, "Forbidden: invalid or missing API key")
            return False
        return True

    def _namespace(self, connection_id: str) -> str:
        test_key = self.headers.get("cloudzero-test-key")
        return f"{connection_id}#test:{test_key}" if test_key else connection_id

    def _send_raw(self, status: int, data: bytes) -> None:
        if getattr(self, "_holding", False):
            self._pending = (status, data)  # sent once the connection is released
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (its timeout)

    def _alone_or_429(self, cid: str) -> str | None:
        """Claim the connection for this request; answer 429 (and count it) if it is busy."""
        token = self.server.store.claim(cid)
        if token is None:
            self.server.store.count(CONCURRENT)
            log.warning("sandbox: a second request arrived while one was in flight on %s", cid)
            self._error(
                429, "Too Many Requests: another request for this connection is in progress"
            )
        return token

    def _claimed(self, cid: str, work: Callable[[], None]) -> None:
        """Do `work` as the connection's only request; answer after releasing the connection,
        so a client that sends its next request the moment it reads this answer is not refused."""
        token = self._alone_or_429(cid)
        if token is None:
            return
        self._holding, self._pending = True, None
        try:
            work()
        finally:
            self._holding = False
            self.server.store.release(cid, token)
        if self._pending is not None:
            self._send_raw(*self._pending)

    def do_GET(self) -> None:
        if self.path == "/sandbox/stats":
            self._send(200, self.server.stats())
            return
        self.server.store.count(REQUESTS)
        if not self._authorised():
            return
        match = DROPS.match(self.path)
        if not match:
            self._error(404, f"no such endpoint: {self.path}", "not_found")
            return
        cid, month = self._namespace(match["cid"]), match["month"]

        def answer() -> None:
            if month is None:
                self._send(200, {"billing_drops": self.server.store.drops(cid)})
            elif not MONTH.match(month):
                self._error(400, f"month must be YYYY-MM, got {month!r}")
            elif not self.server.store.has_month(cid, month):
                self._error(404, f"no billing drop for {month}", "not_found")
            else:
                rows = self.server.store.month_row_texts(cid, month)
                # Rows are stored as JSON text: join them rather than parse and re-encode.
                self._send_raw(200, ('{"billing_drop":[' + ",".join(rows) + "]}").encode())

        self._claimed(cid, answer)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.store.count(REQUESTS)
        if not self._authorised():
            return
        if length > MAX_BODY_BYTES:
            self._error(
                413,
                f"Request Too Long: the body is {length:,} bytes, over the limit of "
                f"{MAX_BODY_BYTES:,} bytes per request",
            )
            return
        if self.path == VALIDATE:
            self._validate(raw)
            return
        match = DROPS.match(self.path)
        if not match or match["month"]:
            self._error(404, f"no such endpoint: {self.path}", "not_found")
            return
        cid = self._namespace(match["cid"])
        self._claimed(cid, lambda: self._create(cid, raw))

    def _validate(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            self._error(400, f"the body is not JSON: {exc}")
            return
        _, _, _, errors = body_errors(body)
        self._send(200, {"connection": {"is_valid": not errors, "errors": errors}})

    def _create(self, cid: str, raw: bytes) -> None:
        faults = self.server.faults
        key = self.headers.get("cloudzero-idempotency-key")
        if faults.delay:
            time.sleep(faults.delay)
        if key:
            remembered = self.server.store.remembered_answer(key, cid)
            if remembered:
                self._send(*remembered)
                return
        if faults.error_rate and self.server.random() < faults.error_rate:
            self._error(503, "Service Unavailable (injected by the sandbox)")
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            status, answer = (
                400,
                {"error": {"message": f"the body is not JSON: {exc}", "type": "validation_error"}},
            )
        else:
            month, operation, rows, errors = body_errors(body)
            if errors:
                status, answer = (
                    400,
                    {"error": {"message": "; ".join(errors), "type": "validation_error"}},
                )
            else:
                status, answer = (
                    200,
                    {"connection": self.server.store.apply(cid, month, operation, rows)},
                )
        if key:
            self.server.store.remember_answer(key, cid, status, answer)
        if status == 200 and faults.lost_rate and self.server.random() < faults.lost_rate:
            self.close_connection = True  # applied, but the client never hears of it
            return
        self._send(status, answer)


class SandboxServer(ThreadingHTTPServer):
    """A running sandbox; use as a context manager or call close()."""

    daemon_threads = True

    def __init__(
        self, store: SandboxStore, host: str, port: int, api_key: str | None, faults: Faults
    ) -> None:
        super().__init__((host, port), _Handler)
        self.store = store
        self.api_key = api_key
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stats(self) -> dict[str, int]:
        """Counters kept in the shared SQLite file (so they cover every process using it)."""
        return {name: self.store.counter(name) for name in (CONCURRENT, REQUESTS)}

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
) -> SandboxServer:
    """Start a sandbox server in a background thread (port 0: any free port)."""
    return SandboxServer(SandboxStore(folder), host, port, api_key, faults or Faults()).start()
