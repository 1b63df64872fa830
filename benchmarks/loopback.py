"""A loopback stand-in for CloudZero that only counts: bytes and rows in, CloudZero's answers out.

It answers the calls `anycost run` makes as CloudZero's reference documents them (a created
drop `{"connection": {"drop_id", "month", "row_count"}}`, the drop list with each month's rows,
validate), without checking or keeping rows, so the run's own cost is what the benchmark sees.
Rows are counted by their `time/usage_start` keys; a month's count is reset by replace_drop and
added to by replace_hourly and sum (the client never sends an hour twice in one month's bodies).
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DROPS = re.compile(r"^/v2/connections/billing/anycost/(?P<cid>[^/]+)/billing_drops/?$")
VALIDATE = "/v2/connections/billing/anycost/validate_billing_drop"
MONTH = re.compile(rb'"month"\s*:\s*"(\d{4}-\d\d)')
OPERATION = re.compile(rb'"operation"\s*:\s*"(\w+)"')
ROW_KEY = b'"time/usage_start"'


@dataclass
class Counts:
    """What the server received and the time its handlers took (wall and their threads' CPU)."""

    requests: int = 0
    bytes: int = 0
    rows: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    held: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: "LoopbackServer"
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers, 40 ms per answer on Linux.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _timed(self, work) -> None:  # type: ignore[no-untyped-def]
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            work()
        finally:
            counts = self.server.counts
            with counts.lock:
                counts.requests += 1
                counts.seconds += time.perf_counter() - start
                counts.cpu += time.thread_time() - cpu

    def do_POST(self) -> None:
        self._timed(self._post)

    def do_GET(self) -> None:
        self._timed(self._get)

    def _post(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        counts = self.server.counts
        if self.path == VALIDATE:
            self._answer(200, {"connection": {"is_valid": True, "errors": []}})
            return
        match = DROPS.match(self.path)
        month = MONTH.search(raw)
        if not match or not month:
            self._answer(400, {"error": {"message": "not a billing drop", "type": "validation"}})
            return
        operation = OPERATION.search(raw)
        rows = raw.count(ROW_KEY)
        key = (match["cid"], month[1].decode())
        with counts.lock:
            counts.bytes += len(raw)
            counts.rows += rows
            drop_id = f"loopback-{counts.requests:06d}"
            before = (
                0
                if not operation or operation[1] == b"replace_drop"
                else counts.held.get(key, ("", 0))[1]
            )
            counts.held[key] = (drop_id, before + rows)
        self._answer(
            200,
            {
                "connection": {
                    "drop_id": drop_id,
                    "month": f"{key[1]}-01T00:00:00Z",
                    "row_count": rows,
                }
            },
        )

    def _get(self) -> None:
        match = DROPS.match(self.path)
        if not match:
            self._answer(404, {"error": {"message": "not kept here", "type": "not_found"}})
            return
        with self.server.counts.lock:
            listed = [
                {"drop_id": drop_id, "month": f"{month}-01T00:00:00Z", "row_count": rows}
                for (cid, month), (drop_id, rows) in sorted(self.server.counts.held.items())
                if cid == match["cid"]
            ]
        self._answer(200, {"billing_drops": listed})


class LoopbackServer(ThreadingHTTPServer):
    """The counting server on 127.0.0.1, serving from a background thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.counts = Counts()
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
