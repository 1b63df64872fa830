"""The anycost.yaml model and its loader.

`anycost.yaml` declares where costs come from (sources), where they go (CloudZero connections)
and how source columns become CBF columns. Its path is `$ANYCOST_CONFIG`, else `anycost.yaml`
in the working directory. Relative paths inside it are relative to the file's own folder.
"""

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator, ValidationInfo

from anycost_pipeline.cbf.columns import COST, REQUIRED_COLUMNS, is_cbf_column
from anycost_pipeline.cbf.options import Currency, MappingOptions, RateCard, Spread, TagsSpec
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


class SourceConfig(_Model):
    """One place costs come from, and how its columns become CBF columns."""

    connection: str
    kind: Literal["files"] = "files"
    path: str = Field(min_length=1, description="glob of export files")
    format: Literal["csv"] = "csv"
    timezone: str = "UTC"
    time_format: str | list[str] | None = Field(
        default=None,
        description="format(s) of the time column (iso, YYYY-MM-DD, M/D/YYYY, epoch_seconds, ... or strftime); default: iso",
    )
    rate_card: RateCard | None = None  # before `columns`: their check reads it
    columns: dict[str, ColumnSpec]
    # Mapping options, all optional (README: Times, Money, Charge types, Rate cards, ...).
    preset: Literal["focus"] | None = None
    ambiguous_time: Literal["reject", "earliest", "latest"] = "reject"
    null_values: list[str] = Field(default_factory=list)
    exponent: Literal["reject", "allow"] = "reject"
    on_bad_rows: Literal["strict", "reject"] = "strict"
    tags: TagsSpec | None = None
    resource_id_encoding: Literal["service_prefix", "none"] = "service_prefix"
    currency: Currency | None = None
    spread: Spread | None = None

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
    def _cbf_columns(cls, columns: dict[str, ColumnSpec], info: ValidationInfo) -> dict[str, ColumnSpec]:
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
            raise ValueError(f"with a `rate_card`, {COST} comes from the rate card: leave it out of columns")
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
        return spec.column if isinstance(spec, FromColumn) and isinstance(spec.column, str) else None

    @property
    def mapping(self) -> MappingOptions:
        """What the CBF mapping needs to know about this source."""
        return MappingOptions.model_validate({k: getattr(self, k) for k in MappingOptions.model_fields})

    @property
    def time_column(self) -> str:
        spec = self.columns[REQUIRED_COLUMNS[0]]
        assert isinstance(spec, FromColumn) and isinstance(spec.column, str)
        return spec.column


class CloudZeroConfig(_Model):
    """Where drops go: the built-in local sandbox (default) or the live API."""

    target: Literal["sandbox", "live"] = "sandbox"


class AnycostConfig(_Model):
    """The whole anycost.yaml."""

    storage: str = ".anycost"
    start_month: str
    cloudzero: CloudZeroConfig = CloudZeroConfig()
    connections: dict[str, ConnectionConfig] = Field(min_length=1)
    sources: dict[str, SourceConfig] = Field(min_length=1)
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

    @property
    def storage_path(self) -> Path:
        return (self.base_dir / self.storage).resolve()

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
            mapping = mapping.model_copy(update={"rate_card": card.with_file(self.resolve_path(card.file))})
        return mapping

    def sources_of(self, connection: str) -> dict[str, SourceConfig]:
        return {name: s for name, s in self.sources.items() if s.connection == connection}


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
