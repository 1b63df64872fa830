"""How one CBF column is filled from a source: declared in anycost.yaml, validated by pydantic."""

import string
from typing import Annotated, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FromColumn(_Spec):
    """Copy a source column, optionally translating its values (e.g. vendor charge names)."""

    column: str
    map: dict[str, str] | None = None
    default: str | None = None


class Constant(_Spec):
    """The same value on every row."""

    value: str


class Template(_Spec):
    """A text built from source columns, e.g. `instance-{instance_id}`."""

    template: str

    @field_validator("template")
    @classmethod
    def _has_fields(cls, template: str) -> str:
        if not template_fields(template):
            raise ValueError("a template needs at least one {column} placeholder")
        return template


def template_fields(template: str) -> list[str]:
    """The column names a template refers to, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _shorthand(value: object) -> object:
    # `cost/cost: amount` is short for `cost/cost: {column: amount}`.
    if isinstance(value, str):
        return {"column": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("write numbers as quoted text, e.g. value: \"12.50\", so no digit is lost")
    return value


ColumnSpec = Annotated[Union[FromColumn, Constant, Template], BeforeValidator(_shorthand)]
