"""Templates (`{account}/{service}`): one CBF value written from several source columns."""

import string
from collections.abc import Container

import polars as pl


def template_parts(
    frame_columns: set[str], template: str, clean: Container[str] = frozenset()
) -> tuple[list[pl.Expr], list[pl.Expr], str]:
    """A template's pieces in order (its literal text and its fields, a missing or null field
    as ""), its fields alone, and its literal text."""
    parts: list[pl.Expr] = []
    fields: list[pl.Expr] = []
    literals = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
            literals += literal
        if name:
            value = (
                pl.lit(None, pl.String)
                if name not in frame_columns
                else pl.col(name)
                if name in clean
                else pl.col(name).cast(pl.String).str.strip_chars()
            )
            fields.append(value.fill_null(""))
            parts.append(fields[-1])
    return parts, fields, literals


def filled_template(
    frame_columns: set[str], template: str, clean: Container[str] = frozenset()
) -> pl.Expr:
    """The template filled in; no value where every field is empty."""
    parts, fields, literals = template_parts(frame_columns, template, clean)
    if not fields:  # plain text (`unattributed`): the same value on every row
        return pl.lit(template, dtype=pl.String)
    # Every field is empty exactly when the result is the literal text alone (lengths add up);
    # testing that on the result reads each field once instead of twice.
    return pl.concat_str(parts).replace(literals, None)
