"""Source rows to CBF rows, as declared per source in anycost.yaml.

`convert` runs the whole mapping for one month: column specs, exact decimals, charge types,
rate card, currency, tags, resource ids, spreading. Every bad value is found first; then the
month either fails naming each (strict, the default) or keeps those rows aside as rejects with
their reasons (`on_bad_rows: reject`), so nothing ever disappears.

Its steps live in their own modules: `resolve` (which specs apply, how text is read),
`problems` (bad values), `rejects`, `build` (the CBF frame), `charges`, `hours`, `templates`
and `resource_ids`. `conservation` sums the source's and the sent cost on its own, for the
`cost_conserved` check.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from anycost_pipeline.cbf import pricing
from anycost_pipeline.cbf.build import build_cbf
from anycost_pipeline.cbf.charges import (
    CHARGE_SOURCE,
    CHARGE_TYPE_NOTE,
    charge_source,
    charge_type_note,
)
from anycost_pipeline.cbf.columns import LINE_ITEM_TYPE, ROWS_PER_MONTH, USAGE_END, USAGE_START
from anycost_pipeline.cbf.corrections import (
    CORRECTIONS_NOTE,
    CORRECTS,
    described,
    summary,
    without_end,
)
from anycost_pipeline.cbf.errors import MappingError, raise_problems
from anycost_pipeline.cbf.hours import HOUR
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.problems import value_problems
from anycost_pipeline.cbf.rejects import empty_rejects, not_in, rejected_rows
from anycost_pipeline.cbf.resolve import as_missing, canonical_decimals, resolve_columns
from anycost_pipeline.cbf.spec import ChargeType, ColumnSpec, FromColumn
from anycost_pipeline.cbf.spread import END, spread
from anycost_pipeline.cbf.tags import tag_columns
from anycost_pipeline.cbf.times import CBF_TIME_FORMAT
from anycost_pipeline.cbf.validation import row_problems
from anycost_pipeline.months import Month


@dataclass
class Conversion:
    """A month of one source in CBF, the rows kept aside, and what the mapping changed."""

    cbf: pl.DataFrame
    rejects: pl.DataFrame
    notes: dict[str, str] = field(default_factory=dict)


def to_cbf(frame: pl.DataFrame, source: str, columns: Mapping[str, ColumnSpec]) -> pl.DataFrame:
    """Map a month of source rows (with `_hour` and lineage columns) to a CBF frame of strings.

    Strict: the first bad values raise BadSourceData. The result holds the mapped CBF columns
    as text plus `_source_file` and `_source_row` so later checks can point at the source row.
    """
    return convert(frame, source, MappingOptions(columns=dict(columns))).cbf


def convert(
    frame: pl.DataFrame,
    source: str,
    options: MappingOptions,
    month: Month | None = None,
    rows_per_month: int = ROWS_PER_MONTH,
) -> Conversion:
    """Map a month of source rows (frame from `with_usage_hour`) to CBF, as `options` declare;
    `rows_per_month` is CloudZero's limit (`cloudzero.limits.rows_per_month`)."""
    frame = as_missing(frame, options.null_values)
    columns = resolve_columns(frame, source, options)
    end = columns.get(USAGE_END)
    if isinstance(end, FromColumn):
        frame = without_end(frame, end.columns[0], HOUR)
    notes: dict[str, str] = {}
    if options.rate_card is not None:
        if month is None:
            raise MappingError(source, "a rate card needs the month")
        try:
            frame = pricing.with_rates(frame, options.rate_card, str(month))
        except ValueError as error:
            raise MappingError(source, str(error)) from None
    ready = canonical_decimals(frame, columns, options)
    problems = [value_problems(frame, columns, options, ready)]
    tags = tag_columns(frame, source, options.tags) if options.tags else None
    if tags is not None:
        problems.append(tags.problems)
        if tags.renamed:
            notes["renamed_tag_keys"] = ", ".join(f"{k!r} → {v!r}" for k, v in tags.renamed.items())
    # The same column may feed two CBF columns (e.g. an end time also used for spreading).
    found = pl.concat(problems).unique(maintain_order=True)
    rejects = empty_rejects(frame)
    if found.height:
        if options.on_bad_rows == "strict":
            raise_problems(source, found)
        rejects = rejected_rows(frame, found)
        keep = not_in(frame, found)
        frame = frame.filter(keep)
        if tags is not None and tags.columns.width:
            tags.columns = tags.columns.filter(keep)

    cbf = build_cbf(
        frame, source, columns, options, tags.columns if tags else None, notes, month, ready
    )
    cbf = described(cbf, frame)
    said = summary(cbf, frame, options.corrections, HOUR, options.time_format)
    if said:
        notes[CORRECTIONS_NOTE] = said
    charge_spec = columns.get(LINE_ITEM_TYPE)
    if isinstance(charge_spec, (ChargeType, FromColumn)):
        cbf = cbf.with_columns(frame.select(charge_source(charge_spec)).to_series())
    if options.spread is not None and month is not None:
        # A charge from an earlier month that runs into this one starts here at the month's
        # first hour (spreading gives every part its own hour; the row rules look before).
        first = month.start.strftime(CBF_TIME_FORMAT)
        cbf = cbf.with_columns(
            pl.when(pl.col(HOUR) < month.start)
            .then(pl.lit(first))
            .otherwise(pl.col(USAGE_START))
            .alias(USAGE_START)
        )
    if options.on_bad_rows == "reject" and month is not None:
        invalid = row_problems(
            cbf, month, rows_per_month=None
        )  # the month's size is no row's fault
        if invalid.height:
            rejects = pl.concat([rejects, rejected_rows(frame, invalid)], how="diagonal_relaxed")
            cbf = cbf.filter(not_in(cbf, invalid))
    if isinstance(charge_spec, (ChargeType, FromColumn)):
        notes[CHARGE_TYPE_NOTE] = charge_type_note(cbf, charge_spec)
        cbf = cbf.drop(CHARGE_SOURCE)
    if options.spread is not None and month is not None:
        cbf = spread(
            cbf,
            source,
            month,
            to=options.spread.to,
            extra_decimals=options.spread.extra_decimals,
            limit=rows_per_month,
        )
    return Conversion(cbf.drop(HOUR, END, CORRECTS, strict=False), rejects, notes)
