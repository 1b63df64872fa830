"""The charge-type column and what a vendor's charge words mean as CBF line item types."""

import polars as pl

from anycost_pipeline.cbf.charges import CHARGE_TYPES, charge_key
from anycost_pipeline.sources.propose.evidence import data_columns, name_words

# Vendor charge words beyond the mapping's own vocabulary, by the part of the word that says it.
_CHARGE_HINTS = (
    ("negation", "Discount"),
    ("discount", "Discount"),
    ("refund", "Credit"),
    ("credit", "Credit"),
    ("tax", "Tax"),
    ("vat", "Tax"),
    ("support", "Support"),
    ("upfront", "CommittedUsePurchase"),
    ("recurringfee", "CommittedUseRecurringFee"),
    ("rifee", "CommittedUseRecurringFee"),
    ("fee", "Fee"),
    ("purchase", "Purchase"),
    ("adjust", "Adjustment"),
    ("correction", "Adjustment"),
    ("usage", "Usage"),
)


def charge_word(value: str) -> str | None:
    """The line item type a vendor's charge word means, or None when it says nothing known."""
    word = charge_key(value)
    if word in CHARGE_TYPES:
        return CHARGE_TYPES[word]
    return next((kind for part, kind in _CHARGE_HINTS if part in word), None)


_CHARGE_NAMES = ("lineitemtype", "chargetype", "chargecategory", "chargekind", "type", "kind")


def find_charge_type(frame: pl.DataFrame) -> tuple[str, dict[str, str] | None, list[str]] | None:
    """The charge type column; a `map` when some words need one, and the words guessed as Usage."""
    best = None
    for column in data_columns(frame):
        words = name_words(column)
        rank = next((i for i, n in enumerate(_CHARGE_NAMES) if words.endswith(n)), None)
        if rank is None:
            continue
        distinct = frame.get_column(column).cast(pl.String).str.strip_chars().drop_nulls()
        distinct = distinct.filter(distinct != "").unique().sort().to_list()
        if not distinct or len(distinct) > 40:
            continue
        known = [v for v in distinct if charge_word(v) is not None]
        if len(known) * 2 < len(distinct):  # mostly other words: not a charge column
            continue
        if best is None or rank < best[0]:
            best = (rank, column, distinct)
    if best is None:
        return None
    _, column, distinct = best
    direct = all(charge_key(v) in CHARGE_TYPES for v in distinct)
    if direct:
        return column, None, []
    unknown = [v for v in distinct if charge_word(v) is None]
    return column, {v: charge_word(v) or "Usage" for v in distinct}, unknown
