"""The anycost.yaml model and its loader, one module per part of the file.

`anycost.yaml` declares where costs come from (sources), where they go (CloudZero connections)
and how source columns become CBF columns. Its path is `$ANYCOST_CONFIG`, else `anycost.yaml`
in the working directory. Relative paths inside it are relative to the file's own folder.

`connections` (connections:), `mapping` (what every source maps), `sources` (sources by kind),
`cloudzero` (cloudzero:), `project` (the whole file), `loader` (reading it), `base` (shared).
The names below are imported from here.
"""

from anycost_pipeline.config.base import ConfigError
from anycost_pipeline.config.cloudzero import CloudZeroConfig, LimitsConfig, SandboxFaultsConfig
from anycost_pipeline.config.connections import ENV_PREFIX, ConnectionConfig
from anycost_pipeline.config.http_options import (
    Cumulative,
    CursorPages,
    Follow,
    HttpAuth,
    NestedRecords,
    NextLinkPages,
    NoPages,
    NumberedPages,
    Pagination,
    WaitHeader,
)
from anycost_pipeline.config.loader import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_NAME,
    config_path,
    load_config,
)
from anycost_pipeline.config.mapping import SourceConfig
from anycost_pipeline.config.project import (
    ALLOW_SANDBOX_ENV_VAR,
    DEPLOYMENT_ENV_VAR,
    AnycostConfig,
    is_url,
)
from anycost_pipeline.config.sources import (
    URL_FIELDS,
    AnySource,
    FilesSource,
    HttpSource,
    Refresh,
    Settles,
    SqlSource,
    Tombstone,
)

__all__ = [
    "ALLOW_SANDBOX_ENV_VAR",
    "DEPLOYMENT_ENV_VAR",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "URL_FIELDS",
    "AnySource",
    "AnycostConfig",
    "CloudZeroConfig",
    "ConfigError",
    "ConnectionConfig",
    "Cumulative",
    "CursorPages",
    "FilesSource",
    "Follow",
    "HttpAuth",
    "HttpSource",
    "LimitsConfig",
    "NestedRecords",
    "NextLinkPages",
    "NoPages",
    "NumberedPages",
    "Pagination",
    "Refresh",
    "SandboxFaultsConfig",
    "SourceConfig",
    "SqlSource",
    "Settles",
    "Tombstone",
    "WaitHeader",
    "config_path",
    "is_url",
    "load_config",
]
