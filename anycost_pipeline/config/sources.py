"""`sources:` by kind, where a source's records come from: export files, a JSON API (with its
auth and pagination) or a SQL query; and the keys every kind shares (incremental merging, the
refresh schedule)."""

import codecs
import string
from collections.abc import Collection
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from anycost_pipeline.cbf.columns import is_cbf_column
from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.config.base import StrictModel
from anycost_pipeline.config.http_options import (
    Cumulative,
    Follow,
    HttpAuth,
    NestedRecords,
    NoPages,
    Pagination,
    WaitHeader,
    values_listed,
)
from anycost_pipeline.config.mapping import SourceConfig

URL_FIELDS = (
    "month",
    "year",
    "month_number",
    "start",
    "end",
    "last_day",
    "start_time",
    "end_time",
    "start_unix",
    "end_unix",
    "since",
)
_TRUTHY = ["true", "1", "yes", "deleted"]


def _known_fields(template: str, where: str, own: Collection[str] = ()) -> str:
    """`template`, when each of its placeholders is a month field or one of the source's `own`
    (`placeholders`)."""
    known = (*URL_FIELDS, *own)
    unknown = [f for _, f, _, _ in string.Formatter().parse(template) if f and f not in known]
    if unknown:
        raise ValueError(
            f"{where}: unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)}; "
            f"use {', '.join('{' + f + '}' for f in URL_FIELDS)}, or give a value of your own "
            f"under `placeholders`, e.g. placeholders: {{{unknown[0]}: <value>}}"
        )
    return template


class Refresh(StrictModel):
    """When the schedule of a pulled source runs: daily for the current month, and for the first
    days of a month also the previous one (late charges, restated days)."""

    cron: str = "0 6 * * *"
    previous_month_days: int = Field(default=5, ge=0, le=28)

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str) -> str:
        if cron == "0 6 * * *":
            return cron  # the default: no need to load Dagster to know it is valid
        # Dagster's own check (the schedule refuses what it refuses), imported only here: it
        # loads Dagster, which `anycost` commands that read the config alone do not need.
        from dagster._utils.schedules import is_valid_cron_schedule

        if not is_valid_cron_schedule(cron):
            raise ValueError(
                f"{cron!r} is not a cron schedule Dagster can run: write five fields, minute "
                'hour day-of-month month day-of-week, in UTC (e.g. "0 6 * * *": daily at '
                "06:00), or @daily / @hourly"
            )
        return cron


class FinalWhen(StrictModel):
    """A month is final only when every row of it has a value in a CBF `column` (e.g.
    `bill/invoice_id`), or, with `values`, one of those values (e.g. a status `CLOSED`)."""

    column: str = Field(min_length=1)
    values: list[str] | None = Field(default=None, min_length=1)

    @field_validator("column")
    @classmethod
    def _cbf_column(cls, column: str) -> str:
        if not is_cbf_column(column):
            raise ValueError(
                f"{column!r} is not a CBF column: name a column of the month as sent, e.g. "
                "bill/invoice_id or resource/tag:status (map the source's column to it under "
                "`columns`)"
            )
        return column


def _column_shorthand(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


class Settles(StrictModel):
    """How a source's month settles: it is `estimated` until `after_days` days after it ends
    (and, with `when`, until every row says it is invoiced), then `final`. A final month whose
    data changes later is sent with a warning, or held until `--force` (`late_change: hold`)."""

    # At most 27: the schedule pulls the previous month on days 1..after_days + 1 (≤ 28).
    after_days: int = Field(default=0, ge=0, le=27)
    when: Annotated[
        FinalWhen | None,
        BeforeValidator(_column_shorthand, json_schema_input_type=FinalWhen | str | None),
    ] = None
    late_change: Literal["send", "hold"] = "send"


class Tombstone(StrictModel):
    """A column that marks a record as deleted: the record with that key leaves the month."""

    column: str = Field(min_length=1)
    values: list[str] = Field(default_factory=lambda: list(_TRUTHY), min_length=1)


def _tombstone_shorthand(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


class _SourceKind(SourceConfig):
    """Keys every source kind has: incremental merging and the refresh schedule."""

    incremental: bool = False
    key: list[str] | None = Field(default=None, min_length=1)
    tombstone: Annotated[
        Tombstone | None,
        BeforeValidator(_tombstone_shorthand, json_schema_input_type=Tombstone | str | None),
    ] = None
    refresh: Refresh = Refresh()
    settles: Settles | None = None  # None: final once the month is over
    # Pulled sources: the vendor's API returns only the last N days. Rows CloudZero was sent
    # for days before that, which a pull no longer returns, are carried forward (`gone_rows`).
    retention_days: int | None = Field(default=None, ge=1)
    # Who invoices each charge and who provides it, for the overlap check (a charge invoiced by
    # a platform CloudZero already ingests): the first of the columns that the export has.
    issuer_column: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)
    provider_column: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _incremental_keys(self) -> "_SourceKind":
        if self.incremental and not self.key:
            raise ValueError(
                "an incremental source needs `key`: the source columns that identify a record, "
                "so a restated record replaces its earlier version"
            )
        if not self.incremental and (self.key or self.tombstone):
            raise ValueError("`key` and `tombstone` apply only with `incremental: true`")
        if self.retention_days is not None and not self.pulled:
            raise ValueError(
                "`retention_days` applies to pulled sources (http, sql, connectors); a files "
                "source says what a deleted export file means with `deleted_files`"
            )
        return self

    @property
    def previous_month_days(self) -> int:
        """The first days of a month on which the schedule also pulls the month before: the
        refresh's, or, when the source settles later, until the day it is final (included, so
        that the final figures are pulled once)."""
        settling = self.settles.after_days + 1 if self.settles is not None else 0
        return min(28, max(self.refresh.previous_month_days, settling))

    @property
    def pulled(self) -> bool:
        """Whether a schedule refreshes this source (anything but a full export of files)."""
        return self.incremental or self.kind != "files"  # type: ignore[attr-defined]


class FilesSource(_SourceKind):
    """Export files matching a glob, on disk or in an object store (s3://, gs://, az://)."""

    kind: Literal["files"] = "files"
    path: str = Field(min_length=1, description="glob of export files")
    format: Literal["csv", "tsv", "parquet", "ndjson", "json"] = "csv"
    compression: Literal["infer", "gzip", "none"] = "infer"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    header: bool = True
    column_names: list[str] | None = None
    skip_rows: int = Field(default=0, ge=0)
    # What a deleted export file means for the months it held. `keep`: a vendor's retention
    # rotated it away; CloudZero keeps the months as last sent (until `--force`). `remove`:
    # the files are the whole truth; the deleted file's rows leave their months.
    deleted_files: Literal["keep", "remove"] = "keep"
    records: str | None = Field(
        default=None, description="JSON only: dotted path to the record list"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(
                f"{encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)"
            ) from None
        return encoding

    @model_validator(mode="after")
    def _format_options(self) -> "FilesSource":
        text = self.format in ("csv", "tsv")
        if not text and (self.delimiter or not self.header or self.column_names or self.skip_rows):
            raise ValueError(
                "delimiter, header, column_names and skip_rows apply to csv and tsv only"
            )
        if self.records and self.format != "json":
            raise ValueError("records applies to format json only")
        if not self.header and not self.column_names:
            raise ValueError("a file without a header row needs `column_names`")
        return self


class HttpSource(_SourceKind):
    """A JSON API, pulled one month at a time."""

    kind: Literal["http"]
    url: str = Field(min_length=1)
    # A relative `url` (a path) is appended to `base_url`, so a preset's endpoint can be pointed
    # at a proxy, a regional site or a test server by changing `base_url` alone.
    base_url: str | None = Field(default=None, min_length=1)
    # Values of the source's own for `url` and `params` (an organization's name in a path:
    # `url: /organizations/{org}/usage` with `placeholders: {org: acme}`), beside the month's.
    placeholders: dict[str, str] = Field(default_factory=dict)
    # A list value repeats the parameter (`group_by[]=a&group_by[]=b`).
    params: dict[str, str | list[str]] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    records: str | NestedRecords = Field(
        default="", description="dotted path of the record list (empty: the body), or nested"
    )
    pagination: Pagination = NoPages()
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=5, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)
    # The longest Retry-After the source waits for: a longer one fails the month, named, rather
    # than holding the run for as long as an API asks (an hour, a day).
    retry_after_cap_seconds: float = Field(default=600.0, gt=0)
    # Read when a 429 or 503 has no Retry-After (Retry-After wins when both are there).
    rate_limit_reset: WaitHeader | None = None
    max_pages: int = Field(default=10_000, ge=1)
    # Only the records whose field (a dotted path in the record) holds one of the values are
    # kept, before anything is stored: e.g. a vendor's `total` line, never added to its parts.
    where: Annotated[
        dict[str, list[str]],
        BeforeValidator(values_listed, json_schema_input_type=dict[str, str | list[str]]),
    ] = Field(default_factory=dict)
    cumulative: Cumulative | None = None
    follow: Follow | None = None

    @model_validator(mode="after")
    def _templates(self) -> "HttpSource":
        clash = sorted(set(self.placeholders) & set(URL_FIELDS))
        if clash:
            raise ValueError(
                f"placeholders: {', '.join(clash)} is a month placeholder already; "
                "choose another name"
            )
        own = self.placeholders
        _known_fields(self.url, "url", own)
        _known_fields(self.base_url or "", "base_url", own)
        for name, value in self.params.items():
            for one in value if isinstance(value, list) else [value]:
                _known_fields(one, f"params.{name}", own)
        if self.base_url is not None and not urlsplit(self.base_url).scheme:
            raise ValueError(
                f"base_url {self.base_url!r} must be an absolute URL, e.g. https://api.vendor.example"
            )
        if self.base_url is None and not urlsplit(self.url).scheme:
            raise ValueError(
                f"url {self.url!r} is relative: write the whole URL (https://...) or give `base_url`"
            )
        return self

    @property
    def address(self) -> str:
        """The URL template: `url`, appended to `base_url` when it is a path."""
        if self.base_url is None or urlsplit(self.url).scheme:
            return self.url
        return self.base_url.rstrip("/") + "/" + self.url.lstrip("/")


class SqlSource(_SourceKind):
    """A query against a database, with the month bound as :start and :end."""

    kind: Literal["sql"]
    url: str = Field(
        min_length=1, description="sqlite:///file, duckdb:///file, any SQLAlchemy URL, or env:VAR"
    )
    query: str = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _bound_month(cls, query: str) -> str:
        if ":start" not in query or ":end" not in query:
            raise ValueError(
                "the query must select one month with the bound parameters :start and :end, "
                "e.g. WHERE usage_date >= :start AND usage_date < :end"
            )
        return query


_KIND_TAGS = {"files": "FilesSource", "http": "HttpSource", "sql": "SqlSource"}


def _kind_tag(value: object) -> str | None:
    if isinstance(value, dict):
        # A vendor preset brings its kind (`preset: openai` is an http source).
        preset = PRESETS.get(value.get("preset")) if isinstance(value.get("preset"), str) else None
        kind = value["kind"] if "kind" in value else (preset or {}).get("kind", "files")
    else:
        kind = getattr(value, "kind", None)
    return _KIND_TAGS.get(kind) if isinstance(kind, str) else None


# `kind` picks the model; it defaults to files so older anycost.yaml files stay valid.
AnySource = Annotated[
    Annotated[FilesSource, Tag("FilesSource")]
    | Annotated[HttpSource, Tag("HttpSource")]
    | Annotated[SqlSource, Tag("SqlSource")],
    Discriminator(
        _kind_tag,
        custom_error_type="invalid_kind",
        custom_error_message="kind must be one of files, http, sql",
    ),
]
