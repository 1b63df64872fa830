"""What every anycost.yaml model shares: unknown keys refused, values frozen, and the error
that names the file and the key."""

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """anycost.yaml is missing or wrong; the message names the file and the key."""


class StrictModel(BaseModel):
    """A model of part of anycost.yaml: an unknown (misspelt) key is an error; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
