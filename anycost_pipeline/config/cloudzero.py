"""`cloudzero:`: the target (local sandbox or live API), CloudZero's limits, request timing, and
the faults the sandbox injects."""

from typing import Literal

from pydantic import Field

from anycost_pipeline.cbf.columns import ROWS_PER_MONTH
from anycost_pipeline.config.base import StrictModel


class LimitsConfig(StrictModel):
    """CloudZero's published AnyCost Stream limits; configurable because CloudZero may change them."""

    rows_per_month: int = Field(default=ROWS_PER_MONTH, gt=0)
    bytes_per_month: int = Field(default=400_000_000, gt=0)
    body_bytes: int = Field(default=4_500_000, gt=0, le=5_000_000)


class SandboxFaultsConfig(StrictModel):
    """Failures the built-in sandbox injects, to see how submissions cope (all off by default)."""

    error_rate: float = Field(default=0.0, ge=0, le=1)
    lost_rate: float = Field(default=0.0, ge=0, le=1)
    delay_seconds: float = Field(default=0.0, ge=0)
    seed: int | None = None


class CloudZeroConfig(StrictModel):
    """Where drops go: the built-in local sandbox (default) or the live API."""

    target: Literal["sandbox", "live"] = "sandbox"
    limits: LimitsConfig = LimitsConfig()
    # How long one request may take: its read timeout, the longest Retry-After obeyed (a longer
    # one ends the request at once), and all attempts of one request together.
    timeout_seconds: float = Field(default=60.0, gt=0)
    retry_after_cap_seconds: float = Field(default=120.0, ge=0)
    request_budget_seconds: float = Field(default=900.0, gt=0)
    sandbox_faults: SandboxFaultsConfig = SandboxFaultsConfig()
