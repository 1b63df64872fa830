"""The `http` source kind: a JSON API pulled one month at a time, page by page."""

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import polars as pl
import requests

from anycost_pipeline.config import (
    CursorPages,
    HttpSource,
    NestedRecords,
    NextLinkPages,
    NoPages,
    NumberedPages,
)
from anycost_pipeline.months import Month
from anycost_pipeline.sources.cumulative import own_amounts
from anycost_pipeline.sources.errors import KeyRefused, SourceHttpError
from anycost_pipeline.sources.http_credentials import Credentials, refused
from anycost_pipeline.sources.http_retry import RETRY_STATUSES, RetryAfterTooLong, session_for
from anycost_pipeline.sources.records import dig, records_to_frame
from anycost_pipeline.sources.window import PullWindow, pull_window

# Query parameters: a list value repeats the parameter.
Params = dict[str, str | list[str]]

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


def month_fields(window: PullWindow, month: Month, since: datetime | None = None) -> dict[str, str]:
    """The placeholders a URL or parameter template may use for a month: its local dates and
    UTC instants as `window` gives them (a month of a source in UTC: exactly the month).

    `since`: when the previous kept pull of an incremental source started (else the window's start).
    """
    return {
        "month": str(month),
        "year": str(month.year),
        "month_number": str(month.month),
        "start": window.first_day.isoformat(),
        "end": window.end_day.isoformat(),
        "last_day": window.last_day.isoformat(),
        "start_time": window.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": window.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_unix": str(int(window.start.timestamp())),
        "end_unix": str(int(window.end.timestamp())),
        "since": (since or window.start).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def read_month(
    name: str, source: HttpSource, month: Month, since: datetime | None = None
) -> pl.DataFrame:
    """Every record the API returns for the month, all pages, as text with lineage.

    `_source_file` is the URL of the page a record came from, `_source_row` its place on it.
    """
    url, fields, credentials = _prepared(name, source, month, since)
    try:
        frame = _read_pages(name, source, month, url, fields, credentials)
        if source.cumulative is None:
            return frame
        try:
            return own_amounts(frame, source.cumulative)
        except ValueError as error:
            raise SourceHttpError(f"source {name!r}: {error}") from None
    except SourceHttpError as error:
        raise type(error)(credentials.redact(str(error))) from None


def first_page(name: str, source: HttpSource, month: Month) -> str:
    """Ask for the month's first page once, to try the source's key: no further page, no
    `follow`, nothing kept. Returns the URL that answered; raises KeyNotSet, KeyRefused (401
    or 403 to the key) or SourceHttpError (anything else)."""
    url, fields, credentials = _prepared(name, source, month, None)
    try:
        with session_for(source) as session:
            answered, _ = _get(
                name, source, session, url, _first_params(source, fields), credentials
            )
        return answered
    except SourceHttpError as error:
        raise type(error)(credentials.redact(str(error))) from None


def _prepared(
    name: str, source: HttpSource, month: Month, since: datetime | None
) -> tuple[str, dict[str, str], Credentials]:
    """The month's first URL, the placeholders' values and the credentials (KeyNotSet when a
    variable is unset)."""
    fields = month_fields(pull_window(month, source.timezone, source.spread), month, since)
    # The source's own values go into a URL path quoted (`a b` → `a%20b`), into parameters as
    # they are (requests quotes those).
    url = source.address.format(
        **fields, **{k: quote(v, safe="") for k, v in source.placeholders.items()}
    )
    fields = {**fields, **source.placeholders}
    return url, fields, Credentials(name, source, url)


def _first_params(source: HttpSource, fields: dict[str, str]) -> "Params":
    params: Params = {
        key: [one.format(**fields) for one in value]
        if isinstance(value, list)
        else value.format(**fields)
        for key, value in source.params.items()
    }
    pages = source.pagination
    if isinstance(pages, NumberedPages):
        params[pages.param] = str(pages.first)
        if pages.size_param and pages.size:
            params[pages.size_param] = str(pages.size)
    return params


def _read_pages(
    name: str,
    source: HttpSource,
    month: Month,
    url: str,
    fields: dict[str, str],
    credentials: Credentials,
) -> pl.DataFrame:
    params = _first_params(source, fields)
    pages = source.pagination
    frames: list[pl.DataFrame] = []
    with session_for(source) as session:
        for _ in range(source.max_pages):
            page_url, body = _get(name, source, session, url, params, credentials)
            records = _records(name, source.records, body, page_url)
            kept = _kept(name, source.where, records, page_url)
            documents = (
                [(page_url, kept)]
                if source.follow is None
                else _followed(name, source, session, kept, page_url, fields, credentials)
            )
            for document_url, numbered in documents:
                try:
                    frames.append(records_to_frame(numbered, document_url))
                except ValueError as error:
                    raise SourceHttpError(f"source {name!r}: {error}") from None
            follow = _next_page(name, pages, body, records, url, page_url, params)
            if follow is None:
                break
            url, params = follow
        else:
            raise SourceHttpError(
                f"source {name!r}: more than {source.max_pages} pages for {month}; the pagination "
                "settings may not match the API, or raise `max_pages`"
            )
    return pl.concat(frames, how="diagonal")


def _followed(
    name: str,
    source: HttpSource,
    session: requests.Session,
    listed: list[tuple[int, Any]],
    page_url: str,
    fields: dict[str, str],
    credentials: Credentials,
) -> list[tuple[str, list[tuple[int, Any]]]]:
    """For each listed record, the document `follow.url` names and its records (numbered by
    their place in it), each with the document's `follow.fields` copied in."""
    follow = source.follow
    assert follow is not None
    documents = []
    for number, item in listed:
        own = {k: str(v) for k, v in item.items() if isinstance(v, (str, int, float))}
        try:
            path = follow.url.format(**{k: quote(v, safe="") for k, v in {**fields, **own}.items()})
        except (KeyError, IndexError) as missing:
            raise SourceHttpError(
                f"source {name!r}: {page_url}, record {number}: has no {missing} for "
                f"follow.url {follow.url!r}; check `follow` in anycost.yaml"
            ) from None
        if urlsplit(path).scheme:
            url = path
        elif source.base_url is not None:
            url = source.base_url.rstrip("/") + "/" + path.lstrip("/")
        else:
            url = urljoin(page_url, path)
        document_url, document = _get(name, source, session, url, {}, credentials)
        records = _list_at(name, document, follow.records, document_url, "records")
        copied = _copied(
            name, document, follow.fields, f"{document_url}: the answer", "follow.fields"
        )
        documents.append(
            (
                document_url,
                [
                    (n, {**record, **copied} if isinstance(record, dict) else record)
                    for n, record in enumerate(records, start=1)
                ],
            )
        )
    return documents


def _kept(
    name: str, where: dict[str, list[str]], records: list, page_url: str
) -> list[tuple[int, Any]]:
    """The page's records numbered by their place on it, only those that `where` keeps."""
    numbered = list(enumerate(records, start=1))
    if not where:
        return numbered
    kept = []
    for number, record in numbered:
        chosen = True
        for path, values in where.items():
            try:
                value = dig(record, path)
            except (KeyError, TypeError):
                raise SourceHttpError(
                    f"source {name!r}: {page_url}, record {number}: has no {path!r} to choose "
                    f"it by (`where`); check `where` in anycost.yaml"
                ) from None
            said = value if isinstance(value, str) else json.dumps(value)
            chosen = chosen and said in values
        if chosen:
            kept.append((number, record))
    return kept


def _records(name: str, where: str | NestedRecords, body: Any, page_url: str) -> list:
    """The page's records: the list at a dotted path, or the inner lists of a nested form, each
    inner record with its named parent fields copied in."""
    path = where if isinstance(where, str) else where.path
    outer = _list_at(name, body, path, page_url, "records")
    if isinstance(where, str):
        return outer
    records: list = []
    for number, item in enumerate(outer, start=1):
        place = f"{path or 'the answer'}[{number}]"
        inner = _list_at(name, item, where.each, page_url, f"{place}.{where.each}")
        copied = _copied(
            name, item, where.parent_fields, f"{page_url}: {place}", "records.parent_fields"
        )
        for record in inner:
            if isinstance(record, dict):
                clash = sorted(set(copied) & set(record))
                if clash:
                    raise SourceHttpError(
                        f"source {name!r}: {page_url}: a record in {place}.{where.each} already "
                        f"has {', '.join(clash)}; copy the parent's field under another name, "
                        f"e.g. parent_fields: {{parent_{clash[0]}: {where.parent_fields[clash[0]]}}}"
                    )
                record = {**record, **copied}
            records.append(record)
    return records


def _list_at(name: str, document: Any, path: str, page_url: str, what: str) -> list:
    try:
        found = dig(document, path)
    except KeyError as missing:
        raise SourceHttpError(
            f"source {name!r}: {page_url}: the answer has no key {missing} on the way to "
            f"{what} {path!r}; check `records` in anycost.yaml"
        ) from None
    if not isinstance(found, list):
        shown = path if what == "records" else what
        raise SourceHttpError(
            f"source {name!r}: {page_url}: {shown or 'the answer'} is not a list of records"
        )
    return found


def _get(
    name: str,
    source: HttpSource,
    session: requests.Session,
    url: str,
    params: "Params",
    credentials: Credentials,
) -> tuple[str, Any]:
    # Redirects are followed here, not by requests, so that each hop's headers are chosen for
    # its own host: requests would carry a custom auth header to any host.
    query: Params | None = params
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.get(
                url,
                params=query,
                headers=credentials.for_url(url),
                auth=credentials.digest_for(url),
                timeout=source.timeout_seconds,
                allow_redirects=False,
            )
        except (requests.RequestException, RetryAfterTooLong) as error:
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
        sent = credentials.sent_to(response.url)
        raise (KeyRefused if sent and response.status_code in (401, 403) else SourceHttpError)(
            f"source {name!r}: GET {response.url} answered {response.status_code} {response.reason}"
            f"{' (after retries)' if response.status_code in RETRY_STATUSES else ''}: "
            # Cleaned before it is cut, so that no part of an echoed credential is left.
            f"{credentials.redact(response.text)[:300]}"
            f"{refused(source.auth, response.status_code, sent)}"
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
    name: str,
    pages: NoPages | NextLinkPages | CursorPages | NumberedPages,
    body: Any,
    records: list,
    url: str,
    page_url: str,
    params: "Params",
) -> tuple[str, "Params"] | None:
    """The URL and parameters of the next page, or None after the last one."""
    if isinstance(pages, NextLinkPages):
        link = _optional(body, pages.next)
        # The next link carries its own query string.
        return (urljoin(page_url, str(link)), {}) if link else None
    if isinstance(pages, CursorPages):
        cursor = _optional(body, pages.cursor)
        if pages.more is not None:
            try:
                more = dig(body, pages.more)
            except KeyError:
                raise SourceHttpError(
                    f"source {name!r}: {page_url}: the answer has no {pages.more!r} "
                    "(pagination.more); check `pagination` in anycost.yaml"
                ) from None
            if more is not True and str(more).lower() != "true":
                return None
            if not cursor:
                raise SourceHttpError(
                    f"source {name!r}: {page_url}: {pages.more} says more pages follow, but there is no cursor at "
                    f"{pages.cursor!r}; the month would be incomplete"
                )
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


def _copied(name: str, document: Any, fields: dict[str, str], where: str, key: str) -> dict:
    """The fields (record column: dotted path) copied from a document into its records."""
    copied = {}
    for field, field_path in fields.items():
        try:
            copied[field] = dig(document, field_path)
        except KeyError:
            raise SourceHttpError(
                f"source {name!r}: {where} has no {field_path!r} to copy into its records "
                f"({key}); check `{key.split('.')[0]}` in anycost.yaml"
            ) from None
    return copied
