"""The money formats a sample's amounts fit (`$10,000.00`, `1.234,56`, `(12.00)`), read from the
whole sample: a format is proposed only when every reading that fits reads every value alike.

`1,234` alone fits a thousands comma (1234) and a decimal comma (1.234): such a sample has two
readings, and the user (or the invoice's total) chooses. The reading proposed is the simplest
that fits, so a later value it does not fit is refused by name when read, never misread.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal, localcontext

import polars as pl
from pydantic import ValidationError

from anycost_pipeline.cbf.money import MoneyFormat, fits, plain_text

# Runs of characters that are neither digits, separators nor signs: currency symbols or codes.
_SYMBOL = re.compile(r"[^0-9\s.,'()+\-]+")
# (thousands, decimal), simplest first: a reading that needs no thousands separator wins.
_SEPARATORS = ((None, "."), (None, ","), (",", "."), (".", ","), (" ", ","), (" ", "."), ("'", "."))
# One currency symbol or code at most: two (`$`, `EUR`) may be two currencies, never summed.
_MOST_SYMBOLS = 1


@dataclass(frozen=True)
class Reading:
    """One money format every value fits, and the values' exact total under it."""

    format: MoneyFormat
    total: Decimal
    first: tuple[str, str]  # the first value as written and as this format reads it

    def declared(self) -> str:
        """The format as `anycost.yaml` writes it: only what differs from the defaults."""
        keys = self.format.model_dump(exclude_defaults=True)
        return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in keys.items()) + "}"

    def describe(self) -> str:
        written, read = self.first
        return f"money_format {self.declared()} reads {written} as {read} (total {self.total})"


def readings(values: pl.Series) -> list[Reading]:
    """Every distinct reading of `values` (trimmed texts, none empty), simplest first; none when
    some value is no amount in any format. Formats that read every value alike count once."""
    text = values.str.strip_chars().str.strip_prefix("+")
    symbols = sorted({s for value in text.to_list() for s in _SYMBOL.findall(value)})
    if len(symbols) > _MOST_SYMBOLS or text.len() == 0:
        return []
    parentheses = bool(text.str.contains(r"\(").any())
    found: dict[tuple, Reading] = {}
    for thousands, decimal in _SEPARATORS:
        try:
            money = MoneyFormat(
                symbols=symbols, thousands=thousands, decimal=decimal, parentheses=parentheses
            )
        except ValidationError:
            continue  # e.g. a symbol holding this format's separator
        frame = pl.DataFrame({"v": text})
        if not frame.select(fits(pl.col("v"), money).all()).item():
            continue
        plain = tuple(frame.select(plain_text(pl.col("v"), money)).to_series().to_list())
        if plain not in found:
            with localcontext() as exact:
                exact.prec = 80
                total = sum((Decimal(p) for p in plain), Decimal(0))
                found[plain] = Reading(money, total, (text[0], plain[0]))
    return list(found.values())
