"""A JSON API on 127.0.0.1 for tests: each test decides the answers; every request is recorded."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    query_lists: dict[str, list[str]] = field(default_factory=dict)  # every value, repeats kept


@dataclass
class Answer:
    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # sent as-is instead of JSON (exact number text, or not JSON at all)


Responder = Callable[[Request], Answer]


@dataclass
class FakeApi:
    url: str
    requests: list[Request]


@contextmanager
def fake_api(respond: Responder) -> Iterator[FakeApi]:
    seen: list[Request] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            parts = urlsplit(self.path)
            lists = parse_qs(parts.query)
            request = Request(
                parts.path, {k: v[-1] for k, v in lists.items()}, dict(self.headers), lists
            )
            seen.append(request)
            answer = respond(request)
            payload = (answer.raw if answer.raw is not None else json.dumps(answer.body)).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield FakeApi(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
