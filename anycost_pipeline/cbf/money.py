"""Costs written as money (`$10,000.00`, `1.234,56 €`, `(12.00)`), read by a declared format.

A source or a cost column declares its `money_format`: the currency symbols or codes to strip,
the thousands separator, the decimal separator and whether parentheses mean minus. Each value
either fits that one format and becomes exact plain decimal text, or is refused by name: the
format is never guessed per row (`1.234` is 1234 with a `.` thousands separator, 1.234 without).
"""

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Characters that already mean something in a money value; none may be a separator or a symbol.
_RESERVED = set("0123456789-+()")


class MoneyFormat(BaseModel):
    """How a source writes money: `$1,234.56`, `1.234,56 €`, `(12.00)` for -12.00."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbols: list[str] = Field(
        default_factory=list,
        description="currency symbols or codes that may stand before or after the number, "
        'e.g. ["$"] or ["€", "EUR"]; each value may carry one or none',
    )
    thousands: str | None = Field(
        default=None,
        description='the thousands separator, e.g. "," or "." or " " (groups of three digits)',
    )
    decimal: str = Field(default=".", description='the decimal separator: "." or ","')
    parentheses: bool = Field(default=False, description="(12.00) means -12.00")

    @field_validator("symbols", mode="before")
    @classmethod
    def _one_symbol(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("symbols")
    @classmethod
    def _plain_symbols(cls, symbols: list[str]) -> list[str]:
        for symbol in symbols:
            if not symbol.strip() or set(symbol) & _RESERVED or symbol != symbol.strip():
                raise ValueError(
                    f"symbol {symbol!r}: give the symbol or code alone (e.g. $ or USD), without "
                    "digits, signs, parentheses or surrounding spaces"
                )
        return symbols

    @field_validator("decimal")
    @classmethod
    def _decimal_mark(cls, mark: str) -> str:
        if mark not in (".", ","):
            raise ValueError(f'decimal {mark!r}: the decimal separator is "." or ","')
        return mark

    @field_validator("thousands")
    @classmethod
    def _thousands_mark(cls, mark: str | None) -> str | None:
        if mark is not None and (len(mark) != 1 or mark in _RESERVED):
            raise ValueError(
                f"thousands {mark!r}: one character that is not a digit, sign or parenthesis, "
                'e.g. "," or "." or " "'
            )
        return mark

    @model_validator(mode="after")
    def _one_reading(self) -> "MoneyFormat":
        if self.thousands == self.decimal:
            raise ValueError(
                f"the thousands separator and the decimal separator must differ (both "
                f"{self.decimal!r}): a value such as 1{self.decimal}234 could be read two ways"
            )
        separators = {self.decimal, self.thousands} - {None}
        clash = [s for s in self.symbols if set(s) & separators]
        if clash:
            raise ValueError(
                f"symbol {clash[0]!r} holds a separator of this format; give the symbol without it"
            )
        return self

    def describe(self) -> str:
        """The format in words, with an example, for error messages."""
        parts = [f"decimal {self.decimal!r}"]
        parts.append(
            f"thousands {self.thousands!r}" if self.thousands else "no thousands separator"
        )
        if self.symbols:
            parts.append("symbols " + ", ".join(self.symbols))
        parts.append("(12) for minus" if self.parentheses else "a leading - for minus")
        return "; ".join(parts) + f"; e.g. {self.example()}"

    def example(self) -> str:
        whole = f"1{self.thousands}234" if self.thousands else "1234"
        number = f"{whole}{self.decimal}56"
        return f"{self.symbols[0]}{number}" if self.symbols else number


def _literal(text: str) -> str:
    """`text` as a regex for polars (Rust's regex): letters and digits as they are, every other
    character by its code point, so no character is ever read as regex syntax."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):X}}}" for c in text)


def pattern(money: MoneyFormat) -> str:
    """The whole-value regex of `money` (the value trimmed, a leading `+` removed)."""
    decimal = _literal(money.decimal)
    whole = "[0-9]+"
    if money.thousands is not None:
        whole = f"(?:[0-9]{{1,3}}(?:{_literal(money.thousands)}[0-9]{{3}})+|[0-9]+)"
    number = f"(?:{whole}(?:{decimal}[0-9]*)?|{decimal}[0-9]+)"
    if money.symbols:
        # Longest first, so `US$` is not read as `US` followed by `$`.
        ordered = sorted(money.symbols, key=len, reverse=True)
        symbol = "(?:" + "|".join(_literal(s) for s in ordered) + ")"
        signed = [
            f"-?{number}",
            rf"-?{symbol}\s*{number}",
            rf"{symbol}\s*-{number}",
            rf"-?{number}\s*{symbol}",
        ]
        bracketed = [rf"\(\s*(?:{symbol}\s*)?{number}\s*\)", rf"\(\s*{number}\s*{symbol}\s*\)"]
        # The symbol outside the parentheses, as spreadsheets write it: $(12.00), (12.00) €.
        bracketed.append(rf"{symbol}\s*\(\s*{number}\s*\)")
        bracketed.append(rf"\(\s*{number}\s*\)\s*{symbol}")
    else:
        signed = [f"-?{number}"]
        bracketed = [rf"\(\s*{number}\s*\)"]
    forms = signed + (bracketed if money.parentheses else [])
    return "^(?:" + "|".join(forms) + ")$"


def fits(text: pl.Expr, money: MoneyFormat) -> pl.Expr:
    """True where normalised text fits `money` (null where the text is missing)."""
    return text.str.contains(pattern(money))


def plain_text(text: pl.Expr, money: MoneyFormat) -> pl.Expr:
    """Normalised text that fits `money` as plain decimal text (`($1,234.50)` → `-1234.50`);
    null where it does not fit, even when it looks plain (`12.5` with `thousands: "."`): such a
    value is refused, never read another way."""
    digits = text
    for symbol in sorted(money.symbols, key=len, reverse=True):
        digits = digits.str.replace_all(symbol, "", literal=True)
    digits = digits.str.replace_all(f"[^0-9{_literal(money.decimal)}]", "")
    if money.decimal != ".":
        digits = digits.str.replace(money.decimal, ".", literal=True)
    # In a value that fits, a `-` or a `(` is the one sign it has.
    negative = text.str.contains(r"[\-(]")
    number = pl.when(negative).then(pl.concat_str(pl.lit("-"), digits)).otherwise(digits)
    return pl.when(fits(text, money)).then(number)


def misfit_reason(money: MoneyFormat) -> str:
    """Why a value that does not fit `money` is refused."""
    return f"does not fit the declared money format ({money.describe()})"
