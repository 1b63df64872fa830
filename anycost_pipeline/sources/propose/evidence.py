"""What a column's name and first values say: its name as plain words, its probed values,
the words a sample writes for an empty value, and how it writes numbers."""

import re

import polars as pl

PROBE_ROWS = 5_000
NULL_WORDS = ("NULL", "null", "None", "N/A", "n/a", "NaN")

_PLAIN = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$")
_EXPONENT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+\s*$")
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d{1,3}(\.\d{3})*,\d+\s*$|^\s*[+-]?\d+,\d+\s*$")
_GROUPED = re.compile(r"^\s*[+-]?\d{1,3}(,\d{3})+(\.\d+)?\s*$")


def name_words(name: str) -> str:
    """A column name lower-cased without separators: `lineItem/UnblendedCost` → `lineitemunblendedcost`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def words_of(name: str) -> list[str]:
    """A column name as lower-case words: `lineItem/UnblendedCost` → line, item, unblended, cost."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def probe_values(frame: pl.DataFrame, column: str) -> pl.Series:
    """The column's first PROBE_ROWS values as trimmed text, without empty or null words."""
    return column_values(frame.head(PROBE_ROWS), column)


def column_values(frame: pl.DataFrame, column: str) -> pl.Series:
    """Every value of the column as trimmed text, without empty or null words."""
    text = frame.get_column(column).cast(pl.String).str.strip_chars()
    return text.filter(text.is_not_null() & (text != "") & ~text.is_in(list(NULL_WORDS)))


def data_columns(frame: pl.DataFrame) -> list[str]:
    """The sample's own columns (not the reader's lineage columns)."""
    return [c for c in frame.columns if not c.startswith("_")]


def nulls_in(frame: pl.DataFrame) -> list[str]:
    """The NULL_WORDS the sample writes for an empty value."""
    words = set()
    for column in data_columns(frame):
        present = frame.get_column(column).head(PROBE_ROWS).cast(pl.String).str.strip_chars()
        words.update(w for w in NULL_WORDS if present.eq(w).any())
    return sorted(words)


def decimal_style(values: pl.Series) -> str | None:
    """`plain`, `exponent` (some values in 1.5E-3 form), `comma` (1.234,56), `grouped`
    (1,234.56), or None when the values are not numbers."""
    if values.len() == 0:
        return None
    plain = values.str.contains(_PLAIN.pattern)
    if plain.all():
        return "plain"
    if (plain | values.str.contains(_EXPONENT.pattern)).all():
        return "exponent"
    if (plain | values.str.contains(_COMMA_DECIMAL.pattern)).all():
        return "comma"
    if (plain | values.str.contains(_GROUPED.pattern)).all():
        return "grouped"
    return None
