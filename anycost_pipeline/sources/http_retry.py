"""Retries of the `http` kind: 429 and 5xx answers retried with backoff, waiting as long as
the API asks (`Retry-After`, or a declared rate-limit reset header) up to the source's cap."""

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from anycost_pipeline.config import HttpSource, WaitHeader

RETRY_STATUSES = (429, 500, 502, 503, 504)


class RetryAfterTooLong(Exception):
    """The API asked to wait longer than the source's `retry_after_cap_seconds`.

    Not an OSError (nor a requests error, which is one): urllib3 would take it for a broken
    connection and retry."""


class _CappedRetry(Retry):
    """urllib3's retry, waiting as long as Retry-After asks but no longer than `wait_cap`: above
    it the request fails. (urllib3 before 2.6 sleeps for whatever the API says; later ones cut
    the wait to 6 hours without a word.)"""

    def __init__(
        self,
        *args: Any,
        wait_cap: float | None = None,
        reset: WaitHeader | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.wait_cap = wait_cap
        self.reset = reset

    def new(self, **kwargs: Any) -> "_CappedRetry":
        renewed = super().new(**kwargs)
        renewed.wait_cap = self.wait_cap  # type: ignore[attr-defined]
        renewed.reset = self.reset  # type: ignore[attr-defined]
        return renewed  # type: ignore[return-value]

    def get_retry_after(self, response: Any) -> float | None:
        wait = super().get_retry_after(response)  # seconds or an HTTP date, as urllib3 reads it
        header = (response.headers.get("Retry-After") or "").strip()
        said = "Retry-After"
        if wait is not None and header.isdigit():
            wait = float(header)  # as asked, before a newer urllib3's own cut
        if wait is None and self.reset is not None and response.status in (429, 503):
            wait, said = _reset_wait(response, self.reset), self.reset.name
        if wait is not None and self.wait_cap is not None and wait > self.wait_cap:
            raise RetryAfterTooLong(
                f"the API answered {response.status} and asked to wait {wait:g} s ({said}), "
                f"more than retry_after_cap_seconds ({self.wait_cap:g}); run the month "
                "again later, or raise retry_after_cap_seconds"
            )
        return wait


def _reset_wait(response: Any, reset: WaitHeader) -> float | None:
    """The wait a rate-limit reset header asks for, in seconds from now (never negative); None
    when the answer has no such header or its value is not a number."""
    text = (response.headers.get(reset.name) or "").strip()
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return max(0.0, value - time.time() if reset.form == "epoch_seconds" else value)


def session_for(source: HttpSource) -> requests.Session:
    """A session that retries 429 (honouring Retry-After up to `retry_after_cap_seconds`) and
    5xx answers with backoff."""
    retry = _CappedRetry(
        total=source.retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=source.backoff_seconds,
        respect_retry_after_header=True,
        raise_on_status=False,
        wait_cap=source.retry_after_cap_seconds,
        reset=source.rate_limit_reset,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
