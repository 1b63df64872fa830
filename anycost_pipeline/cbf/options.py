"""Per-source mapping options beyond the column specs: tags, rate card, currency, spreading.

Declared in anycost.yaml under a source; validated by pydantic; read by `cbf.mapping.convert`.
"""

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from anycost_pipeline.cbf.corrections import Corrections
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.spec import ColumnSpec

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PLAIN = re.compile(r"^-?(\d+(\.\d+)?|\.\d+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _plain_decimal(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'{what} {value!r}: write it as quoted decimal text, e.g. "0.0416"')
    text = str(value).strip()
    if not _PLAIN.match(text):
        raise ValueError(f"{what} {value!r} is not a plain decimal number")
    return text


def _plainly(error: ValidationError) -> str:
    return "; ".join(
        ".".join(str(p) for p in e["loc"])
        + (": " if e["loc"] else "")
        + e["msg"].removeprefix("Value error, ")
        for e in error.errors()
    )


def _month(value: object) -> str:
    text = str(value)
    if not _MONTH.match(text):
        raise ValueError(f"{value!r} is not a month; write it as YYYY-MM, e.g. 2024-08")
    return text


class TagsSpec(_Model):
    """Where a source's tags come from.

    `columns` names one tag per source column (tag key → column). `column` names one column
    holding many tags, as a JSON object (`format: json`; the braces may be left out, as Azure EA
    and MCA exports do: `"env": "prod","team": "data"`) or as `k=v;k=v` pairs (`format: pairs`). `missing_resource_id` is a template giving rows without a resource id
    one: once a month has tags, CloudZero needs a resource id on every row.
    """

    columns: dict[str, str] = Field(default_factory=dict)
    column: str | None = None
    format: Literal["json", "pairs"] = "json"
    pair_separator: str = ";"
    key_separator: str = "="
    optional: bool = False
    missing_resource_id: str | None = None

    @model_validator(mode="after")
    def _something(self) -> "TagsSpec":
        if not self.columns and not self.column:
            raise ValueError(
                "give `columns` (tag key: source column) or `column` (a column of many tags)"
            )
        return self


class Rate(_Model):
    """One line of a rate card: the values it matches, the price per unit and its months."""

    model_config = ConfigDict(extra="allow", frozen=True)
    rate: str
    from_month: str | None = Field(default=None, alias="from")
    to_month: str | None = Field(default=None, alias="to")

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> str:
        return _plain_decimal(value, "rate")

    @field_validator("from_month", "to_month", mode="before")
    @classmethod
    def _months(cls, value: object) -> str | None:
        return None if value is None else _month(value)

    def keys(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class RateCard(_Model):
    """Cost = usage quantity × the rate of the matching rate card line, exactly.

    The product keeps full precision (its decimals are the quantity's plus the rate's); nothing
    is rounded.
    """

    quantity: str = Field(description="source column holding the usage quantity")
    match: list[str] = Field(min_length=1, description="source columns that choose the rate")
    rates: list[Rate] = Field(default_factory=list)
    file: str | None = Field(default=None, description="a CSV file of rates, instead of `rates`")

    @model_validator(mode="after")
    def _lines_match(self) -> "RateCard":
        if bool(self.rates) == bool(self.file):
            raise ValueError(
                "give the rates either under `rates` or in a CSV `file` (one of the two)"
            )
        for index, line in enumerate(self.rates):
            keys = set(line.keys())
            if keys != set(self.match):
                raise ValueError(
                    f"rates[{index}] must give exactly the match columns {', '.join(self.match)} "
                    f"(it gives {', '.join(sorted(keys)) or 'none'})"
                )
        return self

    def with_file(self, path: str) -> "RateCard":
        """This card with the lines of its CSV file (columns: the match columns, rate, from, to)."""
        import polars as pl

        from anycost_pipeline.sources.local_csv import line_end, unpacked_by_polars

        try:
            with open(path, "rb") as handle:
                data = handle.read()
            # Compressed bytes: what ends their lines is known only once polars unpacks them.
            end = "\n" if unpacked_by_polars(data) else line_end(data)
            table = pl.read_csv(data, infer_schema=False, eol_char=end)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise ValueError(f"rate card file {path}: cannot be read: {error}") from None
        lines = []
        for number, row in enumerate(table.iter_rows(named=True), start=2):
            values = {
                k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip() != ""
            }
            try:
                lines.append(Rate.model_validate(values))
            except ValidationError as error:
                raise ValueError(
                    f"rate card file {path}, row {number}: {_plainly(error)}"
                ) from None
        try:
            return RateCard(quantity=self.quantity, match=self.match, rates=lines)
        except ValidationError as error:
            raise ValueError(f"rate card file {path}: {_plainly(error)}") from None

    def lines_for(self, month: str) -> list[Rate]:
        """The lines in force in `month`; where several match the same values, the latest `from`."""
        chosen: dict[tuple[str, ...], Rate] = {}
        for line in self.rates:
            if (line.from_month and month < line.from_month) or (
                line.to_month and month > line.to_month
            ):
                continue
            key = tuple(line.keys()[c] for c in self.match)
            held = chosen.get(key)
            if held is None or (line.from_month or "") > (held.from_month or ""):
                chosen[key] = line
            elif (line.from_month or "") == (held.from_month or ""):
                raise ValueError(
                    f"rate card: two rates for {dict(zip(self.match, key))} in {month}"
                )
        return list(chosen.values())


class Currency(_Model):
    """A source billed in another currency: its costs × the month's rate (target units per source unit)."""

    source: str = Field(min_length=3, max_length=3, description="the source's currency, e.g. EUR")
    target: str = Field(default="USD", min_length=3, max_length=3)
    rates: dict[str, str] = Field(min_length=1, description="month (YYYY-MM) → rate")

    @field_validator("rates", mode="before")
    @classmethod
    def _rates(cls, rates: object) -> object:
        if not isinstance(rates, Mapping):
            return rates
        out = {}
        for month, rate in rates.items():
            text = _plain_decimal(rate, f"rate for {month}")
            try:
                if Decimal(text) <= 0:
                    raise ValueError(f"rate for {month} must be positive")
            except InvalidOperation:
                raise ValueError(f"rate for {month} is not a number") from None
            out[_month(month)] = text
        return out

    def rate_for(self, month: str) -> str:
        if month not in self.rates:
            raise ValueError(
                f'no {self.source}→{self.target} rate for {month}; add `{month}: "<rate>"` '
                "under currency.rates"
            )
        return self.rates[month]


class Spread(_Model):
    """Spread a charge that covers more than one hour over its hours (or days) in the month.

    The charge runs from its time to `end` (a source column, exclusive) or for `over` (a local
    day or month). Each part is exact; the parts add up to the original to the last digit.
    """

    end: str | None = None
    over: Literal["day", "month"] | None = None
    to: Literal["hour", "day"] = "hour"
    extra_decimals: int = Field(default=6, ge=0, le=12)

    @model_validator(mode="after")
    def _one_length(self) -> "Spread":
        if (self.end is None) == (self.over is None):
            raise ValueError("give either `end` (a source column) or `over` (day or month)")
        return self


class MappingOptions(_Model):
    """Everything `convert` needs to know about a source's mapping."""

    timezone: str = "UTC"
    time_format: str | list[str] | None = Field(
        default=None,
        description="format(s) of the time column (iso, YYYY-MM-DD, M/D/YYYY, epoch_seconds, ... or strftime); default: iso",
    )
    rate_card: RateCard | None = None  # before `columns`: a source's check of them reads it
    columns: dict[str, ColumnSpec]
    ambiguous_time: Literal["reject", "earliest", "latest"] = "reject"
    null_values: list[str] = Field(default_factory=list)
    exponent: Literal["reject", "allow"] = "reject"
    money_format: MoneyFormat | None = Field(
        default=None,
        description="how the decimal columns (cost/*, usage/amount) write money, e.g. $1,234.56; "
        "a column's own money_format wins",
    )
    on_bad_rows: Literal["strict", "reject"] = "strict"
    tags: TagsSpec | None = None
    resource_id_encoding: Literal["service_prefix", "none"] = "service_prefix"
    currency: Currency | None = None
    spread: Spread | None = None
    corrections: Corrections = Corrections()

    @model_validator(mode="after")
    def _booked_charges_are_not_spread(self) -> "MappingOptions":
        if self.spread is not None and self.corrections.policy == "book_forward":
            # A booked correction's hour is no longer its charge's: its spread would be wrong.
            raise ValueError(
                "corrections.policy book_forward cannot be combined with `spread` yet: use "
                "restate, or leave out spread"
            )
        return self


def columns_named(names: Sequence[str] | str) -> list[str]:
    return [names] if isinstance(names, str) else list(names)
