"""The `http` source kind: a JSON API pulled one month at a time, page by page."""

import os
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import polars as pl
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from anycost_pipeline.config import CursorPages, HttpSource, NextLinkPages, NoPages, NumberedPages
from anycost_pipeline.months import Month
from anycost_pipeline.sources.errors import SourceHttpError
from anycost_pipeline.sources.records import dig, records_to_frame

RETRY_STATUSES = (429, 500, 502, 503, 504)


def month_fields(month: Month, since: datetime | None = None) -> dict[str, str]:
    """The placeholders a URL or parameter template may use for a month.

    `since`: when the previous kept pull of an incremental source started (else the month's start).
    """
    end = month.end
    last_day = (end - timedelta(days=1)).date()
    return {
        "month": str(month),
        "start": month.start.date().isoformat(),
        "end": end.date().isoformat(),
        "last_day": last_day.isoformat(),
        "start_time": month.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "since": (since or month.start).strftime("%Y-%m-%dT%H:%M:%SZ"),
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


def _headers(name: str, source: HttpSource) -> dict[str, str]:
    headers = {"Accept": "application/json", **source.headers}
    if source.auth:
        value = os.environ.get(source.auth.env, "").strip()
        if not value:
            raise SourceHttpError(
                f"source {name!r}: environment variable {source.auth.env} is not set; "
                f"it holds the value of the {source.auth.header} header"
            )
        headers[source.auth.header] = source.auth.prefix + value
    return headers


def read_month(
    name: str, source: HttpSource, month: Month, since: datetime | None = None
) -> pl.DataFrame:
    """Every record the API returns for the month, all pages, as text with lineage.

    `_source_file` is the URL of the page a record came from, `_source_row` its place on it.
    """
    fields = month_fields(month, since)
    url = source.url.format(**fields)
    params = {key: value.format(**fields) for key, value in source.params.items()}
    pages = source.pagination
    if isinstance(pages, NumberedPages):
        params[pages.param] = str(pages.first)
        if pages.size_param and pages.size:
            params[pages.size_param] = str(pages.size)
    headers = _headers(name, source)
    frames: list[pl.DataFrame] = []
    with session_for(source) as session:
        for _ in range(source.max_pages):
            page_url, body = _get(name, source, session, url, params, headers)
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
    headers: dict[str, str],
) -> tuple[str, Any]:
    try:
        response = session.get(url, params=params, headers=headers, timeout=source.timeout_seconds)
    except requests.RequestException as error:
        raise SourceHttpError(f"source {name!r}: GET {url} failed: {error}") from None
    if not response.ok:
        raise SourceHttpError(
            f"source {name!r}: GET {response.url} answered {response.status_code} {response.reason}"
            f"{' (after retries)' if response.status_code in RETRY_STATUSES else ''}: {response.text[:300]}"
        )
    try:
        # Numbers stay text exactly as sent: costs are never floats.
        return response.url, response.json(parse_float=str, parse_int=str)
    except ValueError:
        raise SourceHttpError(
            f"source {name!r}: GET {response.url} did not answer JSON: {response.text[:200]!r}"
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
