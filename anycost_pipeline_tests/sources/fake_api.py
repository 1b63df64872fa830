"""A JSON API on 127.0.0.1 for tests: each test decides the answers; every request is recorded."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from anycost_pipeline_tests.servers import StandIn, http_server


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

    class Handler(StandIn):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            parts = urlsplit(self.path)
            lists = parse_qs(parts.query)
            request = Request(
                parts.path, {k: v[-1] for k, v in lists.items()}, dict(self.headers), lists
            )
            seen.append(request)
            answer = respond(request)
            payload = (answer.raw if answer.raw is not None else json.dumps(answer.body)).encode()
            self.reply(
                answer.status, payload, {"Content-Type": "application/json", **answer.headers}
            )

    with http_server(Handler) as url:
        yield FakeApi(url, seen)
