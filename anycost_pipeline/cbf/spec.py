"""How one CBF column is filled from a source: declared in anycost.yaml, validated by pydantic."""

import re
import string
from typing import Annotated, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator, model_validator

from anycost_pipeline.cbf.money import MoneyFormat


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FromColumn(_Spec):
    """Copy a source column, optionally translating its values (e.g. vendor charge names).

    `default` fills empty values (and, with a `map`, values outside it); it may be a template
    such as `acct-{account}`. `unmapped: keep` passes values outside the map through unchanged.
    `optional: true` leaves the CBF column empty when the source has no such column. A list
    of columns takes the first non-empty value among those the source has. `money_format`
    (decimal columns only) says how the column writes money, e.g. `$1,234.56`; `scale`
    (decimal columns only) multiplies each value exactly, e.g. `"0.01"` for amounts in cents.
    """

    @property
    def columns(self) -> list[str]:
        return [self.column] if isinstance(self.column, str) else list(self.column)

    column: str | list[str]
    map: dict[str, str] | None = None
    default: str | None = None
    unmapped: Literal["error", "keep"] = "error"
    optional: bool = False
    money_format: MoneyFormat | None = None
    scale: str | None = None

    @field_validator("scale", mode="before")
    @classmethod
    def _plain_factor(cls, scale: object) -> object:
        if scale is None:
            return None
        if isinstance(scale, bool) or not isinstance(scale, (str, int)):
            raise ValueError(f'scale {scale!r}: write it as quoted decimal text, e.g. "0.01"')
        text = str(scale).strip()
        if not _FACTOR.match(text) or not text.strip("0."):
            raise ValueError(
                f'scale {scale!r} is not a positive plain decimal, e.g. "0.01" (cents to dollars)'
            )
        return text


# A positive factor in plain notation: `0.01`, `100`, `.001`.
_FACTOR = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


class Constant(_Spec):
    """The same value on every row."""

    value: str


class Template(_Spec):
    """A text built from source columns, e.g. `instance-{instance_id}`.

    An empty field renders as empty text; when every field is empty the value is empty.
    With `optional: true`, fields naming columns the source does not have count as empty.
    """

    template: str
    optional: bool = False

    @field_validator("template")
    @classmethod
    def _has_fields(cls, template: str) -> str:
        if not template_fields(template):
            raise ValueError("a template needs at least one {column} placeholder")
        return template


class ChargeType(_Spec):
    """`lineitem/type` from a charge category column, refined by commitment columns.

    The category is read case-insensitively (`usage`, `tax`, `refund`, `credit`, `fee`, ...;
    a refund becomes `Credit`). A purchase with a commitment id becomes `CommittedUsePurchase`,
    usage whose commitment status is `Unused` becomes `CommittedUseVacancy`. Extra vendor
    values can be added with `map`.
    """

    charge_category: str
    commitment_id: str | None = None
    commitment_status: str | None = None
    map: dict[str, str] | None = None


class Absolute(_Spec):
    """A term of a `ColumnSum`: the absolute value of a column (`{abs: discount}`)."""

    abs: str


Term = Union[str, Absolute]


class ColumnSum(_Spec):
    """A decimal column worked out from source columns: the sum of `add` minus the sum of
    `subtract`, each term a column or `{abs: column}`, exactly (e.g. cost − |discount|).

    Each term is read as a column of this CBF column would be (`money_format`, `exponent`). An
    empty term is a bad value (`empty: error`, the default) or counts as zero (`empty: zero`;
    when every term of a row is empty, the value is left empty).
    """

    add: list[Term] = []
    subtract: list[Term] = []
    empty: Literal["error", "zero"] = "error"
    money_format: MoneyFormat | None = None

    @model_validator(mode="after")
    def _some_term(self) -> "ColumnSum":
        if not self.add and not self.subtract:
            raise ValueError("give the columns to `add` and/or to `subtract`")
        return self

    @property
    def terms(self) -> list[tuple[str, bool, bool]]:
        """(column, absolute, subtracted) for each term, in order."""
        return [
            (t.abs if isinstance(t, Absolute) else t, isinstance(t, Absolute), minus)
            for minus, terms in ((False, self.add), (True, self.subtract))
            for t in terms
        ]

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(column for column, _, _ in self.terms))

    def describe(self) -> str:
        """The sum in words, e.g. `cost` − |`discount`|."""
        words = []
        for column, absolute, minus in self.terms:
            term = f"|`{column}`|" if absolute else f"`{column}`"
            words.append(("− " if minus else "+ ") + term)
        text = " ".join(words)
        return text[2:] if text.startswith("+ ") else text


def template_fields(template: str) -> list[str]:
    """The column names a template refers to, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def source_columns(spec: object) -> list[list[str]]:
    """The source columns a column spec needs, as groups of which one is enough (a column list
    names fallbacks); none for a constant or an `optional` spec, which may go without them."""
    if getattr(spec, "optional", False):
        return []
    if isinstance(spec, FromColumn):
        return [spec.columns]
    if isinstance(spec, Template):
        return [[name] for name in template_fields(spec.template)]
    if isinstance(spec, ChargeType):
        return [[spec.charge_category]]  # the commitment columns are used when present
    if isinstance(spec, ColumnSum):
        return [[name] for name in spec.columns]
    return []


def _shorthand(value: object) -> object:
    # `cost/cost: amount` is short for `cost/cost: {column: amount}`.
    if isinstance(value, str):
        return {"column": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError('write numbers as quoted text, e.g. value: "12.50", so no digit is lost')
    return value


# The JSON schema (`dg check yaml`, the component's docs) admits the shorthand too, and null,
# which leaves out a column a preset maps.
ColumnSpec = Annotated[
    Union[FromColumn, Constant, Template, ChargeType, ColumnSum],
    BeforeValidator(
        _shorthand,
        json_schema_input_type=Union[
            str, FromColumn, Constant, Template, ChargeType, ColumnSum, None
        ],
    ),
]
