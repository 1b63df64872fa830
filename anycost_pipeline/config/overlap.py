"""`overlap:`: how a connection's month is checked for cost that is also elsewhere (another
source, another connection, or a platform CloudZero already ingests natively)."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from anycost_pipeline.config.base import StrictModel

# The names `native:` understands, with how an invoice issuer or provider spells each (the
# start of the name, lower case): "Amazon Web Services, Inc." is aws.
NATIVE_NAMES: dict[str, tuple[str, ...]] = {
    "aws": ("aws", "amazon web services", "amazon"),
    "azure": ("azure", "microsoft"),
    "gcp": ("gcp", "google cloud", "google"),
    "oci": ("oci", "oracle"),
    "alibaba": ("alibaba",),
    "snowflake": ("snowflake",),
    "databricks": ("databricks",),
    "datadog": ("datadog",),
    "new_relic": ("new relic",),
    "mongodb": ("mongodb",),
}


class OverlapAllow(StrictModel):
    """An overlap the team looked at and accepts: two sources (or a source and a connection)
    that share invoices or resource hours, or one source's charges of one invoice issuer."""

    sources: list[str] | None = Field(default=None, min_length=2, max_length=2)
    source: str | None = None
    issuer: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> "OverlapAllow":
        pair = self.sources is not None
        issuer = self.source is not None and self.issuer is not None
        if pair == issuer or (not pair and (self.source is None) != (self.issuer is None)):
            raise ValueError(
                "write an allowed overlap as `{sources: [A, B]}` (two sources, or a source and "
                "a connection, that may share invoices and resource hours) or as `{source: S, "
                "issuer: NAME}` (source S's charges invoiced by NAME)"
            )
        return self


class OverlapConfig(StrictModel):
    """The `no_double_count` check of a connection's month: `warn` reports what it finds and
    sends; `fail` sends nothing while it finds something; `off` does not look."""

    # YAML reads an unquoted `off` as false.
    mode: Annotated[
        Literal["warn", "fail", "off"], BeforeValidator(lambda v: "off" if v is False else v)
    ] = "warn"
    native: list[str] = Field(
        default_factory=list,
        description="platforms CloudZero already ingests natively for this organisation",
    )
    allow: list[OverlapAllow] = Field(default_factory=list)

    @field_validator("native")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in NATIVE_NAMES]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: not a platform this check knows; use "
                f"{', '.join(NATIVE_NAMES)}"
            )
        return names
