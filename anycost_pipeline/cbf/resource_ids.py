"""`resource/id` as CloudZero splits it: `<service>/` in front of every id holding `:` or `/`,
so the vendor's id stays whole."""

import re
import string
from collections.abc import Container

import polars as pl

from anycost_pipeline.cbf.columns import RESOURCE_ID
from anycost_pipeline.cbf.templates import template_parts


def prefixed_template(
    frame: pl.DataFrame,
    template: str,
    clean: Container[str],
    service: pl.Expr | None,
    source: str,
) -> pl.Expr:
    """`encode_resource_id` of `filled_template`, for a template whose own text holds `:` or `/`:
    every id it makes gets the prefix, so the id is written once, prefix and all, instead of
    being written and then copied with its prefix (the month's ids twice over at once)."""
    parts, fields, _ = template_parts(set(frame.columns), template, clean)
    services = None if service is None else frame.select(service).to_series().drop_nulls().unique()
    prefix = service_prefix(services, service, source)
    # No value where every field is empty, as `filled_template` gives (a template has a field).
    anything = pl.any_horizontal(field != "" for field in fields)
    return pl.when(anything).then(pl.concat_str(prefix, pl.lit("/"), *parts))


def always_prefixed(template: str) -> bool:
    """Whether every id the template makes holds `:` or `/` (its own text does)."""
    return any(
        mark in literal for literal, *_ in string.Formatter().parse(template) for mark in ":/"
    )


UNSAFE_IN_PREFIX = r"[^A-Za-z0-9_.=+\-@]"


def encode_resource_id(cbf: pl.DataFrame, source: str) -> pl.Expr:
    """`resource/id` with `<service>/` in front of every id holding `:` or `/`, so CloudZero's
    split keeps it whole.

    CloudZero cuts `resource/id` at its first `:` or `/`; an ARN or an Azure id would lose its
    head. With the prefix, the cut falls after the service and the vendor's id stays readable
    and complete: `Amazon-S3/arn:aws:s3:::bucket`. The service is written with only characters
    safe in a prefix; an empty one becomes the source's name.
    """
    resource_id = pl.col(RESOURCE_ID)
    has_service = "resource/service" in cbf.columns
    services = cbf.get_column("resource/service").drop_nulls().unique() if has_service else None
    prefix = service_prefix(services, pl.col("resource/service") if has_service else None, source)
    return (
        pl.when(resource_id.str.contains(r"[:/]"))
        .then(pl.concat_str(prefix, pl.lit("/"), resource_id))
        .otherwise(resource_id)
    )


def service_prefix(services: pl.Series | None, service: pl.Expr | None, source: str) -> pl.Expr:
    """Each row's service (`service`, whose values are `services`) as a prefix: only characters
    safe in a prefix, an empty or missing one the source's name."""
    fallback = re.sub(UNSAFE_IN_PREFIX, "-", source)
    if service is None or services is None:
        return pl.lit(fallback)
    # A month names few services: clean each once instead of once per row.
    clean = services.str.replace_all(UNSAFE_IN_PREFIX, "-").replace("", fallback)
    prefix = service
    if not clean.equals(services):
        prefix = prefix.replace_strict(services, clean, return_dtype=pl.String)
    return prefix.fill_null(fallback)
