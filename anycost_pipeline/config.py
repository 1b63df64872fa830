"""The anycost.yaml model and its loader.

`anycost.yaml` declares where costs come from (sources), where they go (CloudZero connections)
and how source columns become CBF columns. Its path is `$ANYCOST_CONFIG`, else `anycost.yaml`
in the working directory. Relative paths inside it are relative to the file's own folder.
"""

import codecs
import os
import re
import string
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from anycost_pipeline.cbf.columns import COST, REQUIRED_COLUMNS, ROWS_PER_MONTH, is_cbf_column
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.presets import apply_preset
from anycost_pipeline.cbf.spec import ColumnSpec, FromColumn

CONFIG_ENV_VAR = "ANYCOST_CONFIG"
DEFAULT_CONFIG_NAME = "anycost.yaml"
ENV_PREFIX = "env:"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class ConfigError(ValueError):
    """anycost.yaml is missing or wrong; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectionConfig(_Model):
    """A CloudZero AnyCost Stream connection that receives billing drops."""

    connection_id: str = Field(min_length=1)
    operation: Literal["replace_drop", "replace_hourly", "sum"] = Field(
        default="replace_drop",
        description="how each month is applied: replace the month, replace its hours, or add",
    )

    def resolve_id(self, name: str, *, sandbox: bool) -> str:
        """The connection id, read from the environment when written as `env:NAME`.

        In the sandbox an unset variable falls back to the connection's name, so the demo
        needs no setup; a live submission needs the real id.
        """
        if not self.connection_id.startswith(ENV_PREFIX):
            return self.connection_id
        var = self.connection_id[len(ENV_PREFIX) :]
        value = os.environ.get(var, "").strip()
        if value:
            return value
        if sandbox:
            return name
        raise ConfigError(
            f"connections.{name}.connection_id: environment variable {var} is not set; "
            "set it to the connection id shown in CloudZero (Settings > Connections)"
        )


def _columns_unless_preset(schema: dict) -> None:
    schema["required"] = [key for key in schema.get("required", []) if key != "columns"]
    schema["if"] = {"not": {"required": ["preset"]}}
    schema["then"] = {"required": ["columns"]}


class SourceConfig(MappingOptions):
    """One place costs come from, and how its columns become CBF columns.

    The keys every source kind shares (the mapping, from `MappingOptions`); each kind below adds
    where to read from.
    """

    # A preset supplies `columns`, so the JSON schema asks for them only without one.
    model_config = ConfigDict(json_schema_extra=lambda schema, _: _columns_unless_preset(schema))

    connection: str
    preset: Literal["focus"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: object) -> object:
        return apply_preset(data) if isinstance(data, dict) else data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{zone!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin)")
        return zone

    @field_validator("columns")
    @classmethod
    def _cbf_columns(
        cls, columns: dict[str, ColumnSpec], info: ValidationInfo
    ) -> dict[str, ColumnSpec]:
        unknown = [name for name in columns if not is_cbf_column(name)]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} not CBF column(s); see the README's CBF column list"
            )
        priced = info.data.get("rate_card") is not None
        missing = [n for n in REQUIRED_COLUMNS if n not in columns and not (n == COST and priced)]
        if missing:
            raise ValueError(f"the required CBF column(s) {', '.join(missing)} must be mapped")
        if priced and COST in columns:
            raise ValueError(
                f"with a `rate_card`, {COST} comes from the rate card: leave it out of columns"
            )
        time = columns[REQUIRED_COLUMNS[0]]
        if not isinstance(time, FromColumn) or not isinstance(time.column, str):
            raise ValueError(f"{REQUIRED_COLUMNS[0]} must come from one source column")
        if COST in columns:
            cost = columns[COST]
            if not isinstance(cost, FromColumn) or cost.map or not isinstance(cost.column, str):
                raise ValueError(f"{COST} must come from one source column, without a value map")
        return columns

    @property
    def cost_column(self) -> str | None:
        """The source column holding the cost (None when costs come from a rate card)."""
        spec = self.columns.get(COST)
        return (
            spec.column if isinstance(spec, FromColumn) and isinstance(spec.column, str) else None
        )

    @property
    def mapping(self) -> MappingOptions:
        """What the CBF mapping needs to know about this source."""
        return MappingOptions.model_validate(
            {k: getattr(self, k) for k in MappingOptions.model_fields}
        )

    @property
    def time_column(self) -> str:
        spec = self.columns[REQUIRED_COLUMNS[0]]
        assert isinstance(spec, FromColumn) and isinstance(spec.column, str)
        return spec.column


# --- Source kinds: where a source's records come from. -------------------------------------

URL_FIELDS = ("month", "start", "end", "last_day", "start_time", "end_time", "since")
_TRUTHY = ["true", "1", "yes", "deleted"]


def _known_fields(template: str, where: str) -> str:
    unknown = [f for _, f, _, _ in string.Formatter().parse(template) if f and f not in URL_FIELDS]
    if unknown:
        raise ValueError(
            f"{where}: unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)}; "
            f"use {', '.join('{' + f + '}' for f in URL_FIELDS)}"
        )
    return template


class Refresh(_Model):
    """When the schedule of a pulled source runs: daily for the current month, and for the first
    days of a month also the previous one (late charges, restated days)."""

    cron: str = "0 6 * * *"
    previous_month_days: int = Field(default=5, ge=0, le=28)


class Tombstone(_Model):
    """A column that marks a record as deleted: the record with that key leaves the month."""

    column: str = Field(min_length=1)
    values: list[str] = Field(default_factory=lambda: list(_TRUTHY), min_length=1)


def _tombstone_shorthand(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


class _SourceKind(SourceConfig):
    """Keys every source kind has: incremental merging and the refresh schedule."""

    incremental: bool = False
    key: list[str] | None = Field(default=None, min_length=1)
    tombstone: Annotated[
        Tombstone | None,
        BeforeValidator(_tombstone_shorthand, json_schema_input_type=Tombstone | str | None),
    ] = None
    refresh: Refresh = Refresh()

    @model_validator(mode="after")
    def _incremental_keys(self) -> "_SourceKind":
        if self.incremental and not self.key:
            raise ValueError(
                "an incremental source needs `key`: the source columns that identify a record, "
                "so a restated record replaces its earlier version"
            )
        if not self.incremental and (self.key or self.tombstone):
            raise ValueError("`key` and `tombstone` apply only with `incremental: true`")
        return self

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


class HttpAuth(_Model):
    """An auth header whose value is read from an environment variable, never from the file."""

    header: str = "Authorization"
    env: str = Field(min_length=1)
    prefix: str = ""


class NoPages(_Model):
    type: Literal["none"] = "none"


class NextLinkPages(_Model):
    """Each response names the URL of the next page (absent or empty on the last page)."""

    type: Literal["next_link"]
    next: str = Field(min_length=1, description="dotted path of the next URL in the response")


class CursorPages(_Model):
    """Each response holds a cursor that is sent back as a query parameter for the next page."""

    type: Literal["cursor"]
    cursor: str = Field(min_length=1, description="dotted path of the next cursor in the response")
    param: str = "cursor"


class NumberedPages(_Model):
    """Pages by number, until a page comes back empty (or shorter than `size`)."""

    type: Literal["page"]
    param: str = "page"
    first: int = 1
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1)


Pagination = Annotated[
    NoPages | NextLinkPages | CursorPages | NumberedPages, Field(discriminator="type")
]


class HttpSource(_SourceKind):
    """A JSON API, pulled one month at a time."""

    kind: Literal["http"]
    url: str = Field(min_length=1)
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    records: str = Field(default="", description="dotted path of the record list; empty: the body")
    pagination: Pagination = NoPages()
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=5, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_pages: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _templates(self) -> "HttpSource":
        _known_fields(self.url, "url")
        for name, value in self.params.items():
            _known_fields(value, f"params.{name}")
        return self


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
    kind = value.get("kind", "files") if isinstance(value, dict) else getattr(value, "kind", None)
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


class LimitsConfig(_Model):
    """CloudZero's published AnyCost Stream limits; configurable because CloudZero may change them."""

    rows_per_month: int = Field(default=ROWS_PER_MONTH, gt=0)
    bytes_per_month: int = Field(default=400_000_000, gt=0)
    body_bytes: int = Field(default=4_500_000, gt=0, le=5_000_000)


class SandboxFaultsConfig(_Model):
    """Failures the built-in sandbox injects, to see how submissions cope (all off by default)."""

    error_rate: float = Field(default=0.0, ge=0, le=1)
    lost_rate: float = Field(default=0.0, ge=0, le=1)
    delay_seconds: float = Field(default=0.0, ge=0)
    seed: int | None = None


class CloudZeroConfig(_Model):
    """Where drops go: the built-in local sandbox (default) or the live API."""

    target: Literal["sandbox", "live"] = "sandbox"
    limits: LimitsConfig = LimitsConfig()
    # How long one request may take: its read timeout, the longest Retry-After obeyed (a longer
    # one ends the request at once), and all attempts of one request together.
    timeout_seconds: float = Field(default=60.0, gt=0)
    retry_after_cap_seconds: float = Field(default=120.0, ge=0)
    request_budget_seconds: float = Field(default=900.0, gt=0)
    sandbox_faults: SandboxFaultsConfig = SandboxFaultsConfig()


class AnycostConfig(_Model):
    """The whole anycost.yaml."""

    # Frames: a local folder or an object-store URL (s3://, gs://, az://). State (the
    # submission journal, the per-connection locks, the sandbox's database, incremental
    # batches, the index of export files): a local or shared-volume folder, `storage` itself
    # when that is a folder.
    storage: str = ".anycost"
    state: str | None = None
    start_month: str
    cloudzero: CloudZeroConfig = CloudZeroConfig()
    connections: dict[str, ConnectionConfig] = Field(min_length=1)
    sources: dict[str, AnySource] = Field(min_length=1)
    # Set by the loader: the folder relative paths are resolved against.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("start_month", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        if isinstance(value, date):
            return f"{value.year:04d}-{value.month:02d}"
        if not isinstance(value, str) or not _MONTH.match(value):
            raise ValueError(f"{value!r} is not a month; write it as YYYY-MM, e.g. 2024-01")
        return value

    @field_validator("connections", "sources")
    @classmethod
    def _names(cls, entries: dict[str, object]) -> dict[str, object]:
        bad = [name for name in entries if not _NAME.match(name)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: names may hold only letters, digits and _"
            )
        return entries

    @model_validator(mode="after")
    def _connections_exist(self) -> "AnycostConfig":
        for name, source in self.sources.items():
            if source.connection not in self.connections:
                raise ValueError(
                    f"sources.{name}.connection: {source.connection!r} is not one of the "
                    f"declared connections ({', '.join(sorted(self.connections))})"
                )
        return self

    @model_validator(mode="after")
    def _state_is_local(self) -> "AnycostConfig":
        if self.state is not None and is_url(self.state):
            raise ValueError(
                f"state: {self.state!r} is a URL; the submission journal, the locks that keep "
                "one submission at a time per connection and the sandbox's SQLite database need "
                "a folder on a disk (a shared volume when runs are on several machines)"
            )
        if is_url(self.storage):
            protocol = self.storage.split("://", 1)[0]
            if self.state is None:
                raise ValueError(
                    f"storage: {self.storage!r} is an object store, where the frames will be kept; "
                    "the submission journal, the per-connection locks and the sandbox's SQLite "
                    "database cannot be kept there: set `state:` to a folder on a disk (a shared "
                    "volume when runs are on several machines), e.g. `state: .anycost`"
                )
            try:
                import fsspec

                fsspec.get_filesystem_class(protocol)
            except (ImportError, ValueError) as error:
                raise ValueError(
                    f"storage: {self.storage!r}: no filesystem for {protocol}:// ({error}); "
                    f'install its extra, e.g. pip install "anycost_pipeline[s3]"'
                ) from None
        return self

    @property
    def storage_path(self) -> Path:
        """The local folder of the project's state (journal, locks, sandbox, batches, index):
        `state`, else `storage` (a folder then)."""
        return (self.base_dir / (self.state or self.storage)).resolve()

    @property
    def frames_location(self) -> str:
        """Where frames are kept: `<storage>/frames`, a local path or an object-store URL."""
        if is_url(self.storage):
            return self.storage.rstrip("/") + "/frames"
        return str((self.base_dir / self.storage).resolve() / "frames")

    def resolve_path(self, path: str) -> str:
        """A path from the file, made absolute against the file's folder (URLs pass through)."""
        if "://" in path or os.path.isabs(path):
            return path
        return str((self.base_dir / path).resolve())

    def mapping_of(self, name: str) -> MappingOptions:
        """A source's mapping, with a rate card `file` read (relative to this file's folder)."""
        mapping = self.sources[name].mapping
        card = mapping.rate_card
        if card is not None and card.file:
            try:
                card = card.with_file(self.resolve_path(card.file))
            except ValueError as error:  # the file is unreadable or holds a bad line
                raise ConfigError(str(error)) from None
            mapping = mapping.model_copy(update={"rate_card": card})
        return mapping

    def sources_of(self, connection: str) -> dict[str, AnySource]:
        return {name: s for name, s in self.sources.items() if s.connection == connection}

    def require_one_owner_per_connection_id(self) -> None:
        """Refuse two connections that send to one CloudZero connection id (after `env:`
        resolution): each `replace_drop` of one would erase the other's month."""
        sandbox = self.cloudzero.target == "sandbox"
        owners: dict[str, list[str]] = {}
        for name, connection in self.connections.items():
            try:
                owners.setdefault(connection.resolve_id(name, sandbox=sandbox), []).append(name)
            except ConfigError:
                continue  # an unset variable is reported where the id is needed
        shared = {cid: names for cid, names in owners.items() if len(names) > 1}
        if shared:
            listed = "; ".join(
                f"{' and '.join(names)} both send to {cid!r}" for cid, names in shared.items()
            )
            raise ConfigError(
                f"connections: {listed}. CloudZero replaces a connection's whole month at each "
                "submission, so each would erase the other's month; give every connection its "
                "own CloudZero connection id, or send their sources through one connection"
            )


def is_url(location: str) -> bool:
    """Whether a `storage` or `path` names an object store (or any fsspec URL) over a folder."""
    return "://" in location and not location.startswith("file://")


def config_path() -> Path:
    """Where anycost.yaml is read from."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_NAME).resolve()


def load_config(path: Path | str | None = None) -> AnycostConfig:
    """Read and validate anycost.yaml; raise ConfigError naming the key that is wrong."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(
            f"{file}: no such file. Create it (see the README) or point {CONFIG_ENV_VAR} at it."
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of keys at the top level")
    try:
        return AnycostConfig.model_validate({**data, "base_dir": file.parent})
    except ValidationError as exc:
        raise ConfigError(f"{file}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: dict) -> str:
    # Pydantic names union members in the location ("FromColumn", "function-before[...]");
    # a user only needs the path of keys they wrote.
    keys = [str(part) for part in error["loc"] if not _is_pydantic_label(str(part))]
    where = ".".join(keys) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required but missing"
    elif error["type"] == "extra_forbidden":
        message = "is not a known key (check its spelling against the README)"
    return f"{where}: {message}"


def _is_pydantic_label(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part.startswith("function-")
