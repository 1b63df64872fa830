"""The `http` source kind: a JSON API pulled one month at a time, page by page."""

import ipaddress
import json
import os
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import polars as pl
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from anycost_pipeline.config import CursorPages, HttpSource, NextLinkPages, NoPages, NumberedPages
from anycost_pipeline.months import Month
from anycost_pipeline.sources.errors import SourceHttpError
from anycost_pipeline.sources.records import dig, records_to_frame
from anycost_pipeline.sources.window import PullWindow, pull_window

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
# Headers that carry credentials: besides the source's `auth` header, never sent to another host.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def month_fields(window: PullWindow, month: Month, since: datetime | None = None) -> dict[str, str]:
    """The placeholders a URL or parameter template may use for a month: its local dates and
    UTC instants as `window` gives them (a month of a source in UTC: exactly the month).

    `since`: when the previous kept pull of an incremental source started (else the window's start).
    """
    return {
        "month": str(month),
        "start": window.first_day.isoformat(),
        "end": window.end_day.isoformat(),
        "last_day": window.last_day.isoformat(),
        "start_time": window.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": window.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "since": (since or window.start).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def session_for(source: HttpSource) -> requests.Session:
    """A session that retries 429 (honouring Retry-After) and 5xx answers with backoff."""
    retry = Retry(
        total=source.retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=source.backoff_seconds,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Credentials:
    """The source's headers, with its credentials kept to the configured host.

    The auth header goes only to URLs of the same origin (scheme, host and port) as the
    configured URL: a redirect or a `next_link` page to another host gets the plain headers
    alone. Messages are cleaned of the credential, in case the API echoes it back.
    """

    def __init__(self, name: str, source: HttpSource, url: str) -> None:
        self.origin = origin(url)
        self.plain = {"Accept": "application/json", **source.headers}
        self.secret: dict[str, str] = {}
        self.hidden: list[str] = []
        if source.auth:
            value = os.environ.get(source.auth.env, "").strip()
            if not value:
                raise SourceHttpError(
                    f"source {name!r}: environment variable {source.auth.env} is not set; "
                    f"it holds the value of the {source.auth.header} header"
                )
            scheme, host, _ = self.origin
            if scheme != "https" and not is_loopback(host):
                raise SourceHttpError(
                    f"source {name!r}: {url} is plain http, which would send the "
                    f"{source.auth.header} header unencrypted; use an https:// URL (plain http "
                    "with auth is allowed only to this machine: localhost, 127.0.0.1, ::1)"
                )
            self.secret[source.auth.header] = source.auth.prefix + value
            self.hidden = [value, json.dumps(value)[1:-1], quote(value, safe="")]

    def for_url(self, url: str) -> dict[str, str]:
        if origin(url) == self.origin:
            return {**self.plain, **self.secret}
        return {k: v for k, v in self.plain.items() if k.lower() not in CREDENTIAL_HEADERS}

    def redact(self, text: str) -> str:
        for secret in sorted(set(self.hidden), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, lower case, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port or default


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_month(
    name: str, source: HttpSource, month: Month, since: datetime | None = None
) -> pl.DataFrame:
    """Every record the API returns for the month, all pages, as text with lineage.

    `_source_file` is the URL of the page a record came from, `_source_row` its place on it.
    """
    fields = month_fields(pull_window(month, source.timezone, source.spread), month, since)
    url = source.url.format(**fields)
    credentials = _Credentials(name, source, url)
    try:
        return _read_pages(name, source, month, url, fields, credentials)
    except SourceHttpError as error:
        raise SourceHttpError(credentials.redact(str(error))) from None


def _read_pages(
    name: str,
    source: HttpSource,
    month: Month,
    url: str,
    fields: dict[str, str],
    credentials: _Credentials,
) -> pl.DataFrame:
    params = {key: value.format(**fields) for key, value in source.params.items()}
    pages = source.pagination
    if isinstance(pages, NumberedPages):
        params[pages.param] = str(pages.first)
        if pages.size_param and pages.size:
            params[pages.size_param] = str(pages.size)
    frames: list[pl.DataFrame] = []
    with session_for(source) as session:
        for _ in range(source.max_pages):
            page_url, body = _get(name, source, session, url, params, credentials)
            try:
                records = dig(body, source.records)
            except KeyError as missing:
                raise SourceHttpError(
                    f"source {name!r}: {page_url}: the answer has no key {missing} on the way to "
                    f"records {source.records!r}; check `records` in anycost.yaml"
                ) from None
            if not isinstance(records, list):
                raise SourceHttpError(
                    f"source {name!r}: {page_url}: {source.records or 'the answer'} is not a list of records"
                )
            try:
                frames.append(records_to_frame(enumerate(records, start=1), page_url))
            except ValueError as error:
                raise SourceHttpError(f"source {name!r}: {error}") from None
            follow = _next_page(pages, body, records, url, page_url, params)
            if follow is None:
                break
            url, params = follow
        else:
            raise SourceHttpError(
                f"source {name!r}: more than {source.max_pages} pages for {month}; the pagination "
                "settings may not match the API, or raise `max_pages`"
            )
    return pl.concat(frames, how="diagonal")


def _get(
    name: str,
    source: HttpSource,
    session: requests.Session,
    url: str,
    params: dict[str, str],
    credentials: _Credentials,
) -> tuple[str, Any]:
    # Redirects are followed here, not by requests, so that each hop's headers are chosen for
    # its own host: requests would carry a custom auth header to any host.
    query: dict[str, str] | None = params
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.get(
                url,
                params=query,
                headers=credentials.for_url(url),
                timeout=source.timeout_seconds,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise SourceHttpError(f"source {name!r}: GET {url} failed: {error}") from None
        location = response.headers.get("Location")
        if response.status_code not in REDIRECTS or not location:
            break
        url, query = urljoin(response.url, location), None  # the new URL carries its own query
    else:
        raise SourceHttpError(
            f"source {name!r}: GET {url}: more than {MAX_REDIRECTS} redirects; check `url`"
        )
    if not response.ok:
        raise SourceHttpError(
            f"source {name!r}: GET {response.url} answered {response.status_code} {response.reason}"
            f"{' (after retries)' if response.status_code in RETRY_STATUSES else ''}: "
            # Cleaned before it is cut, so that no part of an echoed credential is left.
            f"{credentials.redact(response.text)[:300]}"
        )
    try:
        # Numbers stay text exactly as sent: costs are never floats.
        return response.url, response.json(parse_float=str, parse_int=str)
    except ValueError:
        raise SourceHttpError(
            f"source {name!r}: GET {response.url} did not answer JSON: "
            f"{credentials.redact(response.text)[:200]!r}"
        ) from None


def _next_page(
    pages: NoPages | NextLinkPages | CursorPages | NumberedPages,
    body: Any,
    records: list,
    url: str,
    page_url: str,
    params: dict[str, str],
) -> tuple[str, dict[str, str]] | None:
    """The URL and parameters of the next page, or None after the last one."""
    if isinstance(pages, NextLinkPages):
        link = _optional(body, pages.next)
        # The next link carries its own query string.
        return (urljoin(page_url, str(link)), {}) if link else None
    if isinstance(pages, CursorPages):
        cursor = _optional(body, pages.cursor)
        return (url, {**params, pages.param: str(cursor)}) if cursor else None
    if isinstance(pages, NumberedPages):
        if not records or (pages.size and len(records) < pages.size):
            return None
        return url, {**params, pages.param: str(int(params[pages.param]) + 1)}
    return None


def _optional(body: Any, path: str) -> Any:
    try:
        return dig(body, path)
    except KeyError:
        return None
