"""Charge types: the vendor words CBF line item types are read from (`Refund` → `Credit`), the
commitment columns that refine them, and the note saying which source value became which type."""

import re

import polars as pl

from anycost_pipeline.cbf.columns import LINE_ITEM_TYPE, LINE_ITEM_TYPES
from anycost_pipeline.cbf.spec import ChargeType, FromColumn
from anycost_pipeline.figures import counted

# Charge names as vendors write them (lower case, without spaces, _ and -) → CBF line item type.
CHARGE_TYPES: dict[str, str] = {
    **{t.lower(): t for t in LINE_ITEM_TYPES},
    "refund": "Credit",
    "credits": "Credit",
    "taxes": "Tax",
    "vat": "Tax",
    "fees": "Fee",
    "discounts": "Discount",
    "adjustments": "Adjustment",
    "correction": "Adjustment",
    "purchases": "Purchase",
    "commitment": "CommittedUsePurchase",
    "committedusepurchase": "CommittedUsePurchase",
    "reservationpurchase": "CommittedUsePurchase",
    "savingsplanpurchase": "CommittedUsePurchase",
    "subscription": "Purchase",
    "supportfee": "Support",
}


CHARGE_TYPE_NOTE = "line_item_types"  # the note saying which source value became which type
CHARGE_SOURCE = "_charge_source"
_NOTE_LINES = 100


def charge_source(spec: ChargeType | FromColumn) -> pl.Expr:
    """The source text each row's line item type was read from."""
    columns = [spec.charge_category] if isinstance(spec, ChargeType) else spec.columns
    text = [pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in columns]
    return (pl.coalesce(text) if len(text) > 1 else text[0]).alias(CHARGE_SOURCE)


def charge_type_note(cbf: pl.DataFrame, spec: ChargeType | FromColumn) -> str:
    """One line per source value: the line item type it became, how, and on how many rows.

    `'Subscription' → Purchase (built-in vocabulary): 2 rows`. Shown in the `cbf/<source>`
    metadata so a vendor word read by the built-in vocabulary is never a silent choice.
    """
    pairs = (
        cbf.group_by(CHARGE_SOURCE, LINE_ITEM_TYPE)
        .len()
        .sort(
            pl.col(CHARGE_SOURCE).is_null(),
            pl.col(CHARGE_SOURCE).str.to_lowercase(),
            pl.col(CHARGE_SOURCE),
            LINE_ITEM_TYPE,
            nulls_last=True,
        )
    )
    lines = []
    for value, kind, rows in pairs.iter_rows():
        shown = "(empty)" if value is None else repr(value)
        became = kind or "no type (CloudZero reads Usage)"
        how = _how_typed(value, kind, spec)
        lines.append(f"{shown} → {became}{f' ({how})' if how else ''}: {counted(rows, 'row')}")
    if len(lines) > _NOTE_LINES:
        lines = lines[:_NOTE_LINES] + [f"… {len(lines) - _NOTE_LINES:,} more values"]
    return "\n".join(lines)


def _how_typed(value: str | None, kind: str | None, spec: ChargeType | FromColumn) -> str:
    if value is None:
        return "default" if isinstance(spec, FromColumn) and spec.default is not None else ""
    if spec.map is not None and value in spec.map:
        return "map"
    if isinstance(spec, FromColumn) and spec.map is not None:
        return "kept as written" if spec.unmapped == "keep" and kind == value else "default"
    word = charge_key(value)
    base = CHARGE_TYPES.get(word)
    if base is None:
        return ""
    if kind != base:
        return f"{base}, refined by the commitment columns"
    return "" if word == base.lower() else "built-in vocabulary"


# A vendor's charge word is looked up lower-cased, without spaces, underscores or hyphens.
_CHARGE_WORD_NOISE = r"[\s_\-]"


def charge_key(word: str) -> str:
    """A charge word as CHARGE_TYPES is keyed (`Reserved Instance` → `reservedinstance`)."""
    return re.sub(_CHARGE_WORD_NOISE, "", word.lower())


def _charge_key(text: pl.Expr) -> pl.Expr:
    """`charge_key` of every value of a column."""
    return text.str.to_lowercase().str.replace_all(_CHARGE_WORD_NOISE, "")


def charge_type(frame_columns: set[str], spec: ChargeType | FromColumn) -> pl.Expr:
    """Each row's line item type: its `map`, else the vocabulary, refined by the commitment
    columns; null where the word is unknown."""
    column = spec.charge_category if isinstance(spec, ChargeType) else spec.columns[0]
    raw = pl.col(column).cast(pl.String).str.strip_chars()
    kind = _charge_key(raw).replace_strict(CHARGE_TYPES, default=None, return_dtype=pl.String)
    if spec.map:
        kind = raw.replace_strict(spec.map, default=kind, return_dtype=pl.String)
    if isinstance(spec, ChargeType):
        if spec.commitment_id and spec.commitment_id in frame_columns:
            has_id = (
                pl.col(spec.commitment_id).cast(pl.String).str.strip_chars().fill_null("") != ""
            )
            kind = (
                pl.when((kind == "Purchase") & has_id)
                .then(pl.lit("CommittedUsePurchase"))
                .otherwise(kind)
            )
        if spec.commitment_status and spec.commitment_status in frame_columns:
            unused = (
                pl.col(spec.commitment_status).cast(pl.String).str.strip_chars().str.to_lowercase()
                == "unused"
            )
            kind = (
                pl.when((kind == "Usage") & unused.fill_null(False))
                .then(pl.lit("CommittedUseVacancy"))
                .otherwise(kind)
            )
    return kind
