"""What every vendor stand-in shares: a loopback server that answers each GET with the
vendor's own rules, one request at a time, and records what it was asked."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from urllib.parse import parse_qs, urlsplit

from anycost_pipeline_tests.servers import StandIn, http_server


@dataclass
class Seen:
    """One request as the stand-in saw it, with the status it answered."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    at: float  # time.monotonic()
    status: int

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def authorization(self) -> str | None:
        return self.header("Authorization")


# (request number counted from 1, path, query, headers) → (status, body, answer headers)
Answer = Callable[[int, str, dict[str, list[str]], Message], tuple[int, str, dict[str, str]]]


@contextmanager
def recorded_server(seen: list[Seen], answer: Answer) -> Iterator[str]:
    """A server on 127.0.0.1 for the duration of the block (its URL is yielded): each GET is
    answered by `answer`, in turn, and appended to `seen`."""
    lock = threading.Lock()

    class Handler(StandIn):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with lock:
                status, body, headers = answer(len(seen) + 1, parts.path, query, self.headers)
                asked = {name.lower(): value for name, value in self.headers.items()}
                seen.append(Seen(parts.path, query, asked, time.monotonic(), status))
            self.reply(status, body.encode(), headers)

    with http_server(Handler) as url:
        yield url
