"""`connections:`: the CloudZero AnyCost Stream connections that receive billing drops."""

import os
from typing import Literal

from pydantic import Field

from anycost_pipeline.config.base import ConfigError, StrictModel
from anycost_pipeline.config.overlap import OverlapConfig

ENV_PREFIX = "env:"


class ConnectionConfig(StrictModel):
    """A CloudZero AnyCost Stream connection that receives billing drops."""

    connection_id: str = Field(min_length=1)
    operation: Literal["replace_drop", "replace_hourly", "sum"] = Field(
        default="replace_drop",
        description="how each month is applied: replace the month, replace its hours, or add",
    )
    overlap: OverlapConfig | None = None  # None: the project's `overlap:`

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
