"""The `sql` source kind: a query with the month bound as :start and :end.

SQLite and DuckDB work out of the box; any other database through SQLAlchemy
(`pip install "anycost_pipeline[sql]"` plus the database's driver).
"""

import re
import sqlite3
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import polars as pl

from anycost_pipeline.config import SqlSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.errors import SourceSqlError
from anycost_pipeline.sources.records import values_to_frame
from anycost_pipeline.sources.window import PullWindow, pull_window

_PARAM = re.compile(r"(?<![:\w]):(month|start|end)\b")


def month_params(window: PullWindow, month: Month) -> dict[str, str]:
    """The bound parameters: :start (first local day), :end (the local day after the last one,
    exclusive) as `window` gives them, and :month. In UTC: the month's first day and the next's."""
    return {
        "start": window.first_day.isoformat(),
        "end": window.end_day.isoformat(),
        "month": str(month),
    }


def read_month(name: str, source: SqlSource, url: str, month: Month) -> pl.DataFrame:
    """The query's rows for the month, every value as text, with lineage columns.

    `url` is the source's database URL with relative file paths already resolved.
    """
    params = month_params(pull_window(month, source.timezone, source.spread), month)
    used = {key: params[key] for key in _PARAM.findall(source.query)}
    scheme = url.split("://", 1)[0].lower()
    try:
        if scheme == "sqlite":
            names, rows = _sqlite(url.split(":///", 1)[1], source.query, used)
        elif scheme == "duckdb":
            names, rows = _duckdb(url.split(":///", 1)[1], source.query, used)
        else:
            names, rows = _sqlalchemy(url, source.query, used)
    except SourceSqlError as error:
        raise SourceSqlError(f"source {name!r}: {hide_secrets(str(error), url)}") from None
    except Exception as error:  # each driver has its own error classes
        raise SourceSqlError(
            f"source {name!r}: the query failed on {safe_url(url)}: {hide_secrets(str(error), url)}"
        ) from None
    return values_to_frame(names, rows, f"{safe_url(url)} query")


def _sqlite(
    path: str, query: str, params: dict[str, str]
) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
    # Read-only: the adaptor never writes to a source.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        cursor = connection.execute(query, params)
        return [d[0] for d in cursor.description], cursor.fetchall()


def _duckdb(
    path: str, query: str, params: dict[str, str]
) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
    import duckdb

    with duckdb.connect(path, read_only=True) as connection:
        cursor = connection.execute(_PARAM.sub(r"$\1", query), params)
        return [d[0] for d in cursor.description], cursor.fetchall()


def _sqlalchemy(
    url: str, query: str, params: dict[str, str]
) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
    try:
        import sqlalchemy
    except ImportError:
        raise SourceSqlError(
            f"{safe_url(url)}: this database needs SQLAlchemy and its driver: "
            'pip install "anycost_pipeline[sql]" plus the driver (e.g. psycopg for PostgreSQL)'
        ) from None
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.host and "@" in parsed.host:
        # SQLAlchemy ends the password at its first '@': the rest would be taken for the host,
        # and the driver's error would show it.
        raise SourceSqlError(
            f"the database URL {safe_url(url)} has a password holding '@'; write each '@' in it "
            "as %40 (percent-encoded), as SQLAlchemy requires"
        )
    engine = sqlalchemy.create_engine(parsed)
    try:
        with engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(query), params)
            return list(result.keys()), [tuple(row) for row in result]
    finally:
        engine.dispose()


# Query parameters whose values are shown: settings that name no secret. Every other
# parameter's value is hidden, whatever its name (BigQuery's `credentials_base64` holds a whole
# service-account key; an ODBC `odbc_connect` string may hold a password).
HARMLESS_PARAMS = frozenset(
    {
        "application_name", "autocommit", "charset", "client_encoding", "connect_timeout",
        "database", "db", "dataset", "dbname", "driver", "encoding", "host", "location",
        "port", "project", "readonly", "region", "role", "schema", "search_path", "ssl",
        "sslmode", "timeout", "user", "username", "warehouse",
    }
)  # fmt: skip
_URL_PARAM = re.compile(r"(?P<name>[?&;](?P<key>[^?&;#=]*)=)(?P<value>[^&;#]*)")


def _secret_values(url: str) -> list[str]:
    """The values of the URL's query parameters that are not known to be harmless."""
    return [
        m.group("value")
        for m in _URL_PARAM.finditer(url)
        if m.group("key").lower() not in HARMLESS_PARAMS and m.group("value")
    ]


def _hide_param(match: re.Match[str]) -> str:
    if match.group("key").lower() in HARMLESS_PARAMS or not match.group("value"):
        return match.group(0)
    return match.group("name") + "***"


def _password_span(url: str) -> tuple[int, int] | None:
    """Where the password of `scheme://user:password@host` sits in the URL (None if it has none).

    The host follows the last '@': a password may hold '@' (and ':' or '/') itself.
    """
    start = url.find("://")
    if start == -1:
        return None
    start += 3
    at = url.rfind("@", start)
    colon = url.find(":", start, at)
    if at == -1 or colon == -1 or any(c in url[start:colon] for c in "/?#"):
        return None
    return colon + 1, at


def safe_url(url: str) -> str:
    """The URL without its password or secret query parameters, for messages and lineage."""
    span = _password_span(url)
    if span is not None:
        url = f"{url[: span[0]]}***{url[span[1] :]}"
    return _URL_PARAM.sub(_hide_param, url)


def hide_secrets(text: str, url: str) -> str:
    """`text` (a driver's error, say) with the URL's password and secret parameters hidden."""
    # As written in the URL and as a driver may print them, percent-decoded.
    secrets = [v for value in _secret_values(url) for v in (value, unquote(value))]
    span = _password_span(url)
    if span is not None:
        password = url[span[0] : span[1]]
        secrets += [password, *password.split("@")]
    text = text.replace(url, safe_url(url))
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
