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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from anycost_pipeline.cbf.columns import COST, REQUIRED_COLUMNS, is_cbf_column
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


class SourceConfig(_Model):
    """One place costs come from, and how its columns become CBF columns."""

    connection: str
    kind: Literal["files"] = "files"
    path: str = Field(min_length=1, description="glob of export files")
    format: Literal["csv"] = "csv"
    timezone: str = "UTC"
    time_format: str | None = Field(
        default=None,
        description="strftime format of the time column; default: ISO dates and timestamps",
    )
    columns: dict[str, ColumnSpec]

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
    def _cbf_columns(cls, columns: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        unknown = [name for name in columns if not is_cbf_column(name)]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} not CBF column(s); see the README's CBF column list"
            )
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"the required CBF column(s) {', '.join(missing)} must be mapped")
        if not isinstance(columns[REQUIRED_COLUMNS[0]], FromColumn):
            raise ValueError(f"{REQUIRED_COLUMNS[0]} must come from a source column")
        if not isinstance(columns[COST], FromColumn) or columns[COST].map:
            raise ValueError(f"{COST} must come from a source column, without a value map")
        return columns

    @property
    def time_column(self) -> str:
        spec = self.columns[REQUIRED_COLUMNS[0]]
        assert isinstance(spec, FromColumn)
        return spec.column


class LimitsConfig(_Model):
    """CloudZero's published AnyCost Stream limits; configurable because CloudZero may change them."""

    rows_per_month: int = Field(default=1_000_000, gt=0)
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
    sandbox_faults: SandboxFaultsConfig = SandboxFaultsConfig()


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
