"""What every source declares, whatever its kind: the connection it feeds, a preset, and the
mapping of its columns to CBF columns (`MappingOptions`), checked against CBF's rules."""

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, ValidationInfo, field_validator, model_validator

from anycost_pipeline.cbf.columns import (
    COST,
    DECIMAL_COLUMNS,
    K8S_COLUMNS,
    REQUIRED_COLUMNS,
    is_cbf_column,
)
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.presets import apply_preset
from anycost_pipeline.cbf.spec import ColumnSpec, ColumnSum, FromColumn


def _columns_unless_preset(schema: dict) -> None:
    # A preset supplies these (a vendor connector also its kind and URL, a SQL one its query).
    given = [
        key for key in ("columns", "kind", "url", "query") if key in schema.get("required", [])
    ]
    schema["required"] = [key for key in schema.get("required", []) if key not in given]
    schema["if"] = {"not": {"required": ["preset"]}}
    schema["then"] = {"required": given}


class SourceConfig(MappingOptions):
    """One place costs come from, and how its columns become CBF columns.

    The keys every source kind shares (the mapping, from `MappingOptions`); each kind below adds
    where to read from.
    """

    # A preset supplies `columns` (and a vendor's `kind` and `url`), so the JSON schema asks
    # for them only without one.
    model_config = ConfigDict(json_schema_extra=lambda schema, _: _columns_unless_preset(schema))

    connection: str
    preset: (
        Literal[
            "anthropic",
            "atlas",
            "confluent",
            "databricks",
            "datadog",
            "datadog_estimated",
            "focus",
            "github",
            "openai",
            "snowflake",
            "twilio",
        ]
        | None
    ) = None

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
            k8s = any(name.lower().startswith("k8s/") for name in unknown)
            raise ValueError(
                f"{', '.join(map(repr, unknown))} not CBF column(s); see the README's CBF column list"
                + (f" (the Kubernetes ones are {', '.join(K8S_COLUMNS)})" if k8s else "")
            )
        for option in ("money_format", "scale"):  # options that read a decimal column
            misplaced = [
                name
                for name, spec in columns.items()
                if getattr(spec, option, None) is not None and name not in DECIMAL_COLUMNS
            ]
            if misplaced:
                raise ValueError(
                    f"{', '.join(misplaced)}: `{option}` applies only to the decimal columns "
                    f"({', '.join(DECIMAL_COLUMNS)})"
                )
        summed = [
            name
            for name, spec in columns.items()
            if isinstance(spec, ColumnSum) and name not in DECIMAL_COLUMNS
        ]
        if summed:
            raise ValueError(
                f"{', '.join(summed)}: `add`/`subtract` work out only the decimal columns "
                f"({', '.join(DECIMAL_COLUMNS)})"
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
        if COST in columns and not isinstance(columns[COST], ColumnSum):
            cost = columns[COST]
            if not isinstance(cost, FromColumn) or cost.map or not isinstance(cost.column, str):
                raise ValueError(
                    f"{COST} must come from one source column, without a value map, or from a "
                    "sum of columns (`add`/`subtract`)"
                )
        return columns

    @property
    def cost_stated(self) -> str:
        """Where the cost comes from, in words: `amount`, `cost` − |`discount`|, usage × rate card."""
        spec = self.columns.get(COST)
        if isinstance(spec, ColumnSum):
            return spec.describe()
        if isinstance(spec, FromColumn) and spec.scale is not None and self.cost_column:
            return f"`{self.cost_column}` × {spec.scale}"
        return f"`{self.cost_column}`" if self.cost_column else "usage × rate card"

    @property
    def cost_column(self) -> str | None:
        """The source column holding the cost (None when costs come from a rate card or a sum
        of columns)."""
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
