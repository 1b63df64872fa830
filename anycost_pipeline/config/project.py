"""The whole anycost.yaml: storage and state, the first month, CloudZero settings, connections
and sources, and the rules that tie them together."""

import os
import re
from datetime import date
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.config.base import ConfigError, StrictModel
from anycost_pipeline.config.cloudzero import CloudZeroConfig
from anycost_pipeline.config.connections import ConnectionConfig
from anycost_pipeline.config.overlap import OverlapConfig
from anycost_pipeline.config.sources import AnySource

# Set by the container image (Dockerfile): this process is a production deployment, where the
# built-in sandbox would swallow every month ("sent", and nothing reaches CloudZero).
DEPLOYMENT_ENV_VAR = "ANYCOST_DEPLOYMENT"
ALLOW_SANDBOX_ENV_VAR = "ANYCOST_ALLOW_SANDBOX"
_YES = ("1", "true", "yes")

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class AnycostConfig(StrictModel):
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
    overlap: OverlapConfig = OverlapConfig()  # every connection's, unless it sets its own
    # Set by the loader: the folder relative paths are resolved against.
    base_dir: Path = Field(default=Path("."), exclude=True)
    # Set by the Dagster Component: what sets this project's resource keys and job names apart
    # from another project's in the same code location (empty: the names as they are).
    scope: str = Field(default="", exclude=True)
    # The file the user declared the project in, as its error messages name it.
    declared_in: str = Field(default="anycost.yaml", exclude=True)

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
    def _allowed_overlaps_exist(self) -> "AnycostConfig":
        blocks = {"overlap": self.overlap} | {
            f"connections.{name}.overlap": c.overlap
            for name, c in self.connections.items()
            if c.overlap is not None
        }
        for where, block in blocks.items():
            for allowed in block.allow:
                names = allowed.sources or [allowed.source]
                unknown = [n for n in names if n not in self.sources and n not in self.connections]
                if unknown:
                    raise ValueError(
                        f"{where}.allow: {', '.join(map(repr, unknown))} is neither a source nor "
                        "a connection of this file"
                    )
        return self

    def overlap_of(self, connection: str) -> OverlapConfig:
        """The overlap check of a connection: its own `overlap:`, else the project's."""
        return self.connections[connection].overlap or self.overlap

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

    def require_target_allowed(self) -> None:
        """Refuse the sandbox target in a production deployment (ANYCOST_DEPLOYMENT=production,
        which the container image sets) unless ANYCOST_ALLOW_SANDBOX says it is on purpose:
        there every month would say "sent" while nothing reaches CloudZero."""
        deployment = os.environ.get(DEPLOYMENT_ENV_VAR, "").strip().lower()
        allowed = os.environ.get(ALLOW_SANDBOX_ENV_VAR, "").strip().lower() in _YES
        if deployment != "production" or allowed or self.cloudzero.target != "sandbox":
            return
        names = ", ".join(sorted(self.connections))
        raise ConfigError(
            f"{DEPLOYMENT_ENV_VAR}=production, but cloudzero.target is sandbox: connection"
            f"{'s' if len(self.connections) > 1 else ''} {names} would send every month to the "
            "built-in local sandbox, and nothing would reach CloudZero. Set `cloudzero.target: "
            "live` in anycost.yaml (see the README's 'Going live'), or set "
            f"{ALLOW_SANDBOX_ENV_VAR}=1 to run this deployment on the sandbox on purpose"
        )

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
