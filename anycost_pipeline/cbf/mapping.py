"""Source rows to CBF rows, as declared per source in anycost.yaml.

`convert` runs the whole mapping for one month: column specs, exact decimals, charge types,
rate card, currency, tags, resource ids, spreading. Every bad value is found first; then the
month either fails naming each (strict, the default) or keeps those rows aside as rejects with
their reasons (`on_bad_rows: reject`), so nothing ever disappears.
"""

import re
import string
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from anycost_pipeline.cbf import decimals, pricing
from anycost_pipeline.cbf.columns import (
    COST,
    COST_COLUMNS,
    DECIMAL_COLUMNS,
    LINE_ITEM_TYPE,
    LINE_ITEM_TYPES,
    RESOURCE_ID,
    ROWS_PER_MONTH,
    USAGE_START,
)
from anycost_pipeline.cbf.errors import (
    LINEAGE_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    BadSourceData,
    MappingError,
    Problem,
    no_problems,
    problem_frame,
    raise_problems,
)
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.cbf.spec import (
    ChargeType,
    ColumnSpec,
    Constant,
    FromColumn,
    Template,
    template_fields,
)
from anycost_pipeline.cbf.spread import END, charge_end, month_share, spread, whole_end
from anycost_pipeline.cbf.tags import tag_columns
from anycost_pipeline.cbf.times import (
    CBF_TIME_FORMAT,
    cbf_time,
    describe_formats,
    utc_hours,
    utc_time,
)
from anycost_pipeline.cbf.validation import row_problems
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month

HOUR = "_hour"
REASONS = "_reasons"
DEFAULT_LINE_ITEM_TYPE = "Usage"
USAGE_END = "time/usage_end"

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
_CHARGE_SOURCE = "_charge_source"
_NOTE_LINES = 100


def _charge_source(spec: ChargeType | FromColumn) -> pl.Expr:
    """The source text each row's line item type was read from."""
    columns = [spec.charge_category] if isinstance(spec, ChargeType) else spec.columns
    text = [pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in columns]
    return (pl.coalesce(text) if len(text) > 1 else text[0]).alias(_CHARGE_SOURCE)


def charge_type_note(cbf: pl.DataFrame, spec: ChargeType | FromColumn) -> str:
    """One line per source value: the line item type it became, how, and on how many rows.

    `'Subscription' → Purchase (built-in vocabulary): 2 rows`. Shown in the `cbf/<source>`
    metadata so a vendor word read by the built-in vocabulary is never a silent choice.
    """
    pairs = (
        cbf.group_by(_CHARGE_SOURCE, LINE_ITEM_TYPE)
        .len()
        .sort(
            pl.col(_CHARGE_SOURCE).is_null(),
            pl.col(_CHARGE_SOURCE).str.to_lowercase(),
            pl.col(_CHARGE_SOURCE),
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


def with_usage_hour(
    frame: pl.DataFrame,
    source: str,
    time_column: str,
    zone: str,
    time_format: str | Sequence[str] | None,
    ambiguous: str = "reject",
) -> pl.DataFrame:
    """Add the UTC hour of each row; fail naming every timestamp that cannot be read."""
    framed, problems = usage_hours(frame, source, time_column, zone, time_format, ambiguous)
    raise_problems(source, problems)
    return framed


def usage_hours(
    frame: pl.DataFrame,
    source: str,
    time_column: str,
    zone: str,
    time_format: str | Sequence[str] | None,
    ambiguous: str = "reject",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add the UTC hour of each row (null where the time cannot be read), and those problems.

    Rows where every source column is empty (blank lines in a CSV) hold nothing and are left out.
    """
    _require_columns(frame, source, [time_column])
    data = [c for c in frame.columns if not c.startswith("_")]
    if data and not _never_blank(frame, data):
        frame = frame.filter(
            ~pl.all_horizontal(
                pl.col(c).is_null() | (pl.col(c).cast(pl.String) == "") for c in data
            )
        )
    text = pl.col(time_column)
    framed = frame.with_columns(utc_hours(frame, text, zone, time_format, ambiguous).alias(HOUR))
    problems = problem_frame(
        framed,
        pl.col(HOUR).is_null(),
        time_column,
        f"not a timestamp in time zone {zone}"
        + describe_formats(time_format)
        + ", or a local time that does not exist or is ambiguous on a daylight-saving day",
        text,
    )
    return framed, problems


def _never_blank(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether some text column has a value on every row, so that no row can be blank: one look
    at a column's lengths instead of testing every cell of every column."""
    for name in columns:
        column = frame.get_column(name)
        if column.dtype == pl.String and column.null_count() == 0:
            shortest = frame.select(pl.col(name).str.len_bytes().min()).item()
            if shortest is None or shortest > 0:
                return True
    return False


def months_of(frame: pl.DataFrame, ends: pl.Series | None = None) -> list[str]:
    """The months (`YYYY-MM`, sorted) the rows of a frame from `usage_hours` fall in.

    With `ends` (from `charge_ends`, for a source that spreads its charges), every month a
    charge has hours in: a Tokyo fee of local August is in July and August.
    """
    months = {
        f"{h.year:04d}-{h.month:02d}"
        for h in frame.get_column(HOUR).drop_nulls().unique().to_list()
    }
    if ends is not None:
        last = frame.select(
            (whole_end(pl.col(HOUR), pl.lit(ends)) - pl.duration(hours=1)).alias("last")
        ).to_series()
        spans = pl.DataFrame({"first": frame.get_column(HOUR), "last": last}).drop_nulls()
        for first, final in spans.filter(pl.col("first") != pl.col("last")).unique().iter_rows():
            month = Month(first.year, first.month)
            while month.start <= final:
                months.add(str(month))
                month = month.next()
    return sorted(months)


def charge_ends(frame: pl.DataFrame, options: MappingOptions) -> pl.Series:
    """The exclusive end (UTC) of each row's charge, for a source that spreads its charges
    (`spread`): its `spread.end` column, or a local day or month after its hour (null where
    the end cannot be read: such a row is reported, not spread). Frame from `usage_hours`."""
    spread = options.spread
    assert spread is not None
    if spread.end:
        if spread.end not in frame.columns:
            return pl.Series(END, [None] * frame.height, dtype=pl.Datetime("us", "UTC"))
        text = pl.col(spread.end)
        return frame.select(
            utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
        ).to_series()
    assert spread.over is not None
    # Each distinct hour once: time zone rules are slow, and a month has few hours.
    hours = frame.get_column(HOUR).drop_nulls().unique()
    ends = hours.to_frame().select(charge_end(pl.col(HOUR), options.timezone, spread.over))
    return frame.select(
        pl.col(HOUR).replace_strict(
            hours, ends.to_series(), default=None, return_dtype=pl.Datetime("us", "UTC")
        )
    ).to_series()


def rows_of_month(frame: pl.DataFrame, month: Month, ends: pl.Series | None = None) -> pl.DataFrame:
    """The rows whose UTC hour falls inside the month (frame from `with_usage_hour`).

    `ends` (from `charge_ends`, for a source that spreads its charges) also keeps the rows of
    earlier months whose charge runs into this one: the month holds its hours of the charge.
    """
    hour = pl.col(HOUR)
    if ends is not None:
        end = pl.lit(ends)
        inside = (hour >= month.start) & (hour < month.end)
        into = (hour < month.start) & (whole_end(hour, end) > month.start)
        return frame.filter((inside | into).fill_null(False))
    kind = frame.schema.get(HOUR)
    if isinstance(kind, pl.Datetime) and kind.time_zone is not None:
        first, last, unread = frame.select(
            hour.min().alias("first"), hour.max().alias("last"), hour.null_count().alias("unread")
        ).row(0)
        if not unread and (first is None or (first >= month.start and last < month.end)):
            return frame  # the usual case, an export of one month: nothing to leave out, so no copy
    return frame.filter((hour >= month.start) & (hour < month.end))


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
    frame = _as_missing(frame, options.null_values)
    columns = _resolve(frame, source, options)
    notes: dict[str, str] = {}
    if options.rate_card is not None:
        if month is None:
            raise MappingError(source, "a rate card needs the month")
        try:
            frame = pricing.with_rates(frame, options.rate_card, str(month))
        except ValueError as error:
            raise MappingError(source, str(error)) from None
    ready = _canonical_decimals(frame, columns)
    problems = [_value_problems(frame, columns, options, ready)]
    tags = tag_columns(frame, source, options.tags) if options.tags else None
    if tags is not None:
        problems.append(tags.problems)
        if tags.renamed:
            notes["renamed_tag_keys"] = ", ".join(f"{k!r} → {v!r}" for k, v in tags.renamed.items())
    # The same column may feed two CBF columns (e.g. an end time also used for spreading).
    found = pl.concat(problems).unique(maintain_order=True)
    rejects = _empty_rejects(frame)
    if found.height:
        if options.on_bad_rows == "strict":
            raise_problems(source, found)
        rejects = _rejects(frame, found)
        keep = _not_in(frame, found)
        frame = frame.filter(keep)
        if tags is not None and tags.columns.width:
            tags.columns = tags.columns.filter(keep)

    cbf = _build(
        frame, source, columns, options, tags.columns if tags else None, notes, month, ready
    )
    charge_spec = columns.get(LINE_ITEM_TYPE)
    if isinstance(charge_spec, (ChargeType, FromColumn)):
        cbf = cbf.with_columns(frame.select(_charge_source(charge_spec)).to_series())
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
            rejects = pl.concat([rejects, _rejects(frame, invalid)], how="diagonal_relaxed")
            cbf = cbf.filter(_not_in(cbf, invalid))
    if isinstance(charge_spec, (ChargeType, FromColumn)):
        notes[CHARGE_TYPE_NOTE] = charge_type_note(cbf, charge_spec)
        cbf = cbf.drop(_CHARGE_SOURCE)
    if options.spread is not None and month is not None:
        cbf = spread(
            cbf,
            source,
            month,
            to=options.spread.to,
            extra_decimals=options.spread.extra_decimals,
            limit=rows_per_month,
        )
    return Conversion(cbf.drop(HOUR, END, strict=False), rejects, notes)


def _canonical_decimals(frame: pl.DataFrame, columns: dict[str, ColumnSpec]) -> set[str]:
    """Source columns of money that already hold canonical decimal text (or nothing) on every row.

    Exports usually write plain decimals; for those, checking and normalising each value would
    only copy the column to find it unchanged. One regex pass proves there is nothing to do.
    """
    candidates = {
        spec.columns[0]
        for name, spec in columns.items()
        if name in DECIMAL_COLUMNS
        and isinstance(spec, FromColumn)
        and len(spec.columns) == 1
        and spec.map is None
        and spec.default is None
        and frame.schema.get(spec.columns[0]) == pl.String
    }
    return {column for column in candidates if decimals.is_canonical(frame.get_column(column))}


def _clean_text(frame: pl.DataFrame, columns: dict[str, ColumnSpec]) -> set[str]:
    """Source text columns that trimming would leave as they are, holding no empty cell.

    Exports usually write their values trimmed; for those, trimming each value and mapping ""
    to no value would only copy the column to find it unchanged. A CBF column taken from such a
    column shares its memory. `\\s` is Unicode's White_Space, what `strip_chars` trims.
    """
    names = {
        name
        for spec in columns.values()
        for name in (
            spec.columns
            if isinstance(spec, FromColumn)
            else template_fields(spec.template)
            if isinstance(spec, Template)
            else []
        )
        if frame.schema.get(name) == pl.String
    }
    if not names:
        return set()
    text = [pl.col(n) for n in sorted(names)]
    found = frame.select(
        (t.str.contains(r"^\s|\s$") | (t == "")).any().alias(t.meta.output_name()) for t in text
    ).row(0, named=True)
    return {name for name, unclean in found.items() if not unclean}


def _as_missing(frame: pl.DataFrame, markers: Sequence[str]) -> pl.DataFrame:
    if not markers:
        return frame
    data = [c for c, t in frame.schema.items() if not c.startswith("_") and t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.strip_chars().is_in(list(markers)))
        .then(None)
        .otherwise(pl.col(c))
        .alias(c)
        for c in data
    )


def _resolve(frame: pl.DataFrame, source: str, options: MappingOptions) -> dict[str, ColumnSpec]:
    """The column specs that apply to this frame: optional ones whose columns are absent drop out."""
    have = set(frame.columns)
    columns: dict[str, ColumnSpec] = {}
    required: list[str] = []
    for name, spec in options.columns.items():
        if isinstance(spec, FromColumn):
            present = [c for c in spec.columns if c in have]
            if not present:
                if spec.optional:
                    continue
                required.append(spec.columns[0])
                continue
            columns[name] = spec.model_copy(
                update={"column": present if len(present) > 1 else present[0]}
            )
        elif isinstance(spec, Template):
            if not spec.optional:
                required += template_fields(spec.template)
            columns[name] = spec
        elif isinstance(spec, ChargeType):
            required.append(spec.charge_category)
            columns[name] = spec
        else:
            columns[name] = spec
    if options.rate_card is not None:
        required += [options.rate_card.quantity, *options.rate_card.match]
    if options.tags is not None:
        required += list(options.tags.columns.values())
        if options.tags.column and not options.tags.optional:
            required.append(options.tags.column)
    if options.spread is not None and options.spread.end:
        required.append(options.spread.end)
    _require_columns(frame, source, required)
    return columns


def _text(
    frame_columns: set[str], spec: FromColumn, clean: Container[str] = frozenset()
) -> pl.Expr:
    """The spec's source text, trimmed, an empty cell as no value; a column in `clean` (see
    `_clean_text`) is that already and is taken as it is, without a copy."""
    values = [
        pl.col(c) if c in clean else pl.col(c).cast(pl.String).str.strip_chars().replace("", None)
        for c in spec.columns
        if c in frame_columns
    ]
    if not values:  # none of the columns exists; `_resolve` reports it where it is required
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(values) if len(values) > 1 else values[0]


def _template_parts(
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


def _template(
    frame_columns: set[str], template: str, clean: Container[str] = frozenset()
) -> pl.Expr:
    """The template filled in; no value where every field is empty."""
    parts, _, literals = _template_parts(frame_columns, template, clean)
    # Every field is empty exactly when the result is the literal text alone (lengths add up);
    # testing that on the result reads each field once instead of twice.
    return pl.concat_str(parts).replace(literals, None)


def _prefixed_template(
    frame: pl.DataFrame,
    template: str,
    clean: Container[str],
    service: pl.Expr | None,
    source: str,
) -> pl.Expr:
    """`encode_resource_id` of `_template`, for a template whose own text holds `:` or `/`:
    every id it makes gets the prefix, so the id is written once, prefix and all, instead of
    being written and then copied with its prefix (the month's ids twice over at once)."""
    parts, fields, _ = _template_parts(set(frame.columns), template, clean)
    services = None if service is None else frame.select(service).to_series().drop_nulls().unique()
    prefix = _service_prefix(services, service, source)
    # No value where every field is empty, as `_template` gives (a template has a field).
    anything = pl.any_horizontal(field != "" for field in fields)
    return pl.when(anything).then(pl.concat_str(prefix, pl.lit("/"), *parts))


def _always_prefixed(template: str) -> bool:
    """Whether every id the template makes holds `:` or `/` (its own text does)."""
    return any(
        mark in literal for literal, *_ in string.Formatter().parse(template) for mark in ":/"
    )


# A vendor's charge word is looked up lower-cased, without spaces, underscores or hyphens.
_CHARGE_WORD_NOISE = r"[\s_\-]"


def charge_key(word: str) -> str:
    """A charge word as CHARGE_TYPES is keyed (`Reserved Instance` → `reservedinstance`)."""
    return re.sub(_CHARGE_WORD_NOISE, "", word.lower())


def _charge_key(text: pl.Expr) -> pl.Expr:
    """`charge_key` of every value of a column."""
    return text.str.to_lowercase().str.replace_all(_CHARGE_WORD_NOISE, "")


def _charge_type(frame_columns: set[str], spec: ChargeType | FromColumn) -> pl.Expr:
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


def _expression(
    name: str, spec: ColumnSpec, frame_columns: set[str], clean: Container[str] = frozenset()
) -> pl.Expr:
    if isinstance(spec, Constant):
        return pl.lit(spec.value, dtype=pl.String)
    if isinstance(spec, Template):
        return _template(frame_columns, spec.template, clean)
    if isinstance(spec, ChargeType) or (name == LINE_ITEM_TYPE and spec.map is None):
        kind = _charge_type(frame_columns, spec)
        if isinstance(spec, FromColumn) and spec.default is not None:
            kind = kind.fill_null(pl.lit(spec.default))
        return kind
    value = _text(frame_columns, spec, clean)
    default = (
        None
        if spec.default is None
        else (
            _template(frame_columns, spec.default)
            if template_fields(spec.default)
            else pl.lit(spec.default, dtype=pl.String)
        )
    )
    if spec.map is not None:
        fallback = (
            value
            if spec.unmapped == "keep"
            else (default if default is not None else pl.lit(None, pl.String))
        )
        value = value.replace_strict(spec.map, default=fallback, return_dtype=pl.String)
        if spec.unmapped == "keep" and default is not None:
            value = value.fill_null(default)
    elif default is not None:
        value = value.fill_null(default)
    return value


def _value_problems(
    frame: pl.DataFrame, columns: dict[str, ColumnSpec], options: MappingOptions, ready: set[str]
) -> pl.DataFrame:
    """Every bad value in the month: decimals, unmapped values, charge types, end times, rates.

    `ready` names decimal columns already known to hold only canonical text or nothing."""
    have = set(frame.columns)
    found = [no_problems()]
    for name, spec in columns.items():
        if name in DECIMAL_COLUMNS and isinstance(spec, FromColumn):
            required = name == COST and options.rate_card is None
            for column in spec.columns:
                if column in ready and not (required and frame.get_column(column).has_nulls()):
                    continue
                found.append(_decimal_problems(frame, column, options, required=required))
        read_as_charge_type = isinstance(spec, ChargeType) or (
            name == LINE_ITEM_TYPE
            and isinstance(spec, FromColumn)
            and spec.map is None
            and spec.default is None
        )
        if read_as_charge_type:
            column = spec.charge_category if isinstance(spec, ChargeType) else spec.columns[0]  # type: ignore[union-attr]
            known = ", ".join(sorted(LINE_ITEM_TYPES) + ["Refund"])
            found.append(
                problem_frame(
                    frame,
                    _charge_type(have, spec).is_null() & pl.col(column).is_not_null(),  # type: ignore[arg-type]
                    column,
                    f"not a known charge type ({known}); add it to `map` for {name}",
                    pl.col(column),
                )
            )
        if (
            isinstance(spec, FromColumn)
            and spec.map is not None
            and spec.default is None
            and spec.unmapped == "error"
        ):
            known = ", ".join(sorted(spec.map))
            source_value = _text(have, spec)
            found.append(
                problem_frame(
                    frame,
                    source_value.is_not_null() & ~source_value.is_in(list(spec.map)),
                    spec.columns[0],
                    f"not in the value map for {name} ({known}); add it to the map or give a default",
                    source_value,
                )
            )
        if name == USAGE_END and isinstance(spec, FromColumn):
            text = _text(have, spec)
            end = utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
            found.append(
                problem_frame(
                    frame,
                    text.is_not_null() & end.is_null(),
                    spec.columns[0],
                    f"not a timestamp in time zone {options.timezone}"
                    + describe_formats(options.time_format),
                    text,
                )
            )
            found.append(_ends_before_start(frame, options, end, spec.columns[0], text))
    if options.spread is not None and options.spread.end:
        column = options.spread.end
        text = pl.col(column).cast(pl.String).str.strip_chars()
        end = utc_time(text, options.timezone, options.time_format, options.ambiguous_time)
        found.append(
            problem_frame(
                frame,
                text.is_not_null() & (text != "") & end.is_null(),
                column,
                f"not a timestamp in time zone {options.timezone}"
                + describe_formats(options.time_format),
                text,
            )
        )
        found.append(_ends_before_start(frame, options, end, column, text))
    card = options.rate_card
    if card is not None:
        found.append(_decimal_problems(frame, card.quantity, options, required=True))
        keys = ", ".join(f"{c}={{}}" for c in card.match)
        found.append(
            problem_frame(
                frame,
                pl.col(pricing.RATE).is_null(),
                card.match[0],
                pl.format(f"no rate in the rate card for {keys}", *[pl.col(c) for c in card.match]),
                pl.col(card.match[0]),
            )
        )
    return pl.concat(found)


def _ends_before_start(
    frame: pl.DataFrame,
    options: MappingOptions,
    end: pl.Expr,
    column: str,
    text: pl.Expr,
) -> pl.DataFrame:
    """Rows whose end time (`end`, read from `text` of `column`) comes before their start.

    An end before the start's hour is caught from the hour alone; only an end within that hour
    needs the start's exact time, so the start column is read again just for those few rows.
    """
    start = _start_text(frame, options)
    # One reason for both uses of an end column (`time/usage_end` and `spread.end`), so a
    # column that feeds both is reported once.
    reason = pl.format("ends before the usage starts ('{}')", start)
    hour = pl.col(HOUR)
    found = [problem_frame(frame, end < hour, column, reason, text)]
    close = frame.filter(((end >= hour) & (end < hour + pl.duration(hours=1))).fill_null(False))
    if close.height:
        instant = utc_time(start, options.timezone, options.time_format, options.ambiguous_time)
        found.append(problem_frame(close, end < instant, column, reason, text))
    return pl.concat(found)


def _start_text(frame: pl.DataFrame, options: MappingOptions) -> pl.Expr:
    """The source text of each row's start time (its hour, where the start is not one column)."""
    spec = options.columns.get(USAGE_START)
    if isinstance(spec, FromColumn):
        return _text(set(frame.columns), spec)
    return cbf_time(pl.col(HOUR))


def _decimal_problems(
    frame: pl.DataFrame, column: str, options: MappingOptions, *, required: bool
) -> pl.DataFrame:
    text = _decimal_text(pl.col(column), options)
    # `problem_frame` filters first, so the reason is only worked out for the bad rows.
    reason = decimals.invalid_reason(text)
    bad = decimals.is_invalid(text, missing=required)
    if required:
        reason = (
            pl.when(text.is_null())
            .then(pl.lit("is missing; every row needs a cost"))
            .otherwise(reason)
        )
    return problem_frame(frame, bad, column, reason, pl.col(column))


def _decimal_text(text: pl.Expr, options: MappingOptions) -> pl.Expr:
    return (
        decimals.expand_exponents(text)
        if options.exponent == "allow"
        else decimals.normalised(text)
    )


def _build(
    frame: pl.DataFrame,
    source: str,
    columns: dict[str, ColumnSpec],
    options: MappingOptions,
    tags: pl.DataFrame | None,
    notes: dict[str, str],
    month: Month | None,
    ready: set[str],
) -> pl.DataFrame:
    have = set(frame.columns)
    clean = _clean_text(frame, columns)
    exprs: dict[str, pl.Expr] = {}
    for name, spec in columns.items():
        value = _expression(name, spec, have, clean)
        if name in DECIMAL_COLUMNS and isinstance(spec, FromColumn):
            proven = spec.columns == [spec.columns[0]] and spec.columns[0] in ready
            # A column proven canonical is sent as the source wrote it.
            value = (
                pl.col(spec.columns[0])
                if proven
                else decimals.canonical(_decimal_text(value, options))
            )
        if name == USAGE_END and isinstance(spec, FromColumn):
            value = cbf_time(
                utc_time(value, options.timezone, options.time_format, options.ambiguous_time)
            )
        exprs[name] = value
    # A month has at most 744 distinct hours: format each once, not once per row.
    hours = frame.get_column(HOUR).drop_nulls().unique()
    texts = hours.to_frame().select(cbf_time(pl.col(HOUR))).to_series()
    # Every hour but null is in `hours`, and null stays null. No `default`: with one, polars
    # cuts the result into chunks unlike the frame's, and every later with_columns on the frame
    # then copies the whole month to line them up again.
    exprs[USAGE_START] = (
        pl.col(HOUR).replace_strict(hours, texts, return_dtype=pl.String)
        if hours.len()
        else pl.lit(None, dtype=pl.String)  # replace_strict of nothing keeps the datetimes
    )
    if LINE_ITEM_TYPE not in exprs:
        exprs[LINE_ITEM_TYPE] = pl.lit(DEFAULT_LINE_ITEM_TYPE)
    id_spec = columns.get(RESOURCE_ID)
    prefixed = (
        options.resource_id_encoding == "service_prefix"
        and isinstance(id_spec, Template)
        and _always_prefixed(id_spec.template)
        and not (options.tags is not None and options.tags.missing_resource_id)
    )
    if prefixed:
        exprs[RESOURCE_ID] = _prefixed_template(
            frame, id_spec.template, clean, exprs.get("resource/service"), source
        )
    extra: list[pl.Expr | pl.Series] = [pl.col(HOUR)]
    if options.spread is not None:
        extra.append(charge_ends(frame, options).alias(END))
    cbf = frame.select(*[e.alias(n) for n, e in exprs.items()], *LINEAGE_COLUMNS, *extra)

    if options.rate_card is not None:
        cbf = cbf.with_columns(
            pricing.rated_cost(
                frame, options.rate_card, allow_exponent=options.exponent == "allow"
            ).alias(COST)
        )
        if "usage/amount" not in cbf.columns:
            quantity = decimals.plain(_decimal_text(pl.col(options.rate_card.quantity), options))
            cbf = cbf.with_columns(frame.select(quantity).to_series().alias("usage/amount"))
        notes["rate_card_lines"] = str(len(options.rate_card.lines_for(str(month))))
    if options.currency is not None:
        if month is None:
            raise MappingError(source, "a currency conversion needs the month")
        try:
            rate = options.currency.rate_for(str(month))
        except ValueError as error:
            raise MappingError(source, str(error)) from None
        cbf = cbf.with_columns(
            pricing.multiply(cbf.get_column(c), rate) for c in COST_COLUMNS if c in cbf.columns
        )
        notes["currency_rate"] = (
            f"1 {options.currency.source} = {rate} {options.currency.target} ({month})"
        )
    if tags is not None and tags.width:
        twice = sorted(set(tags.columns) & set(cbf.columns))
        if twice:
            raise MappingError(
                source, f"{', '.join(twice)} come(s) both from `columns` and from `tags`; keep one"
            )
        cbf = cbf.hstack(tags)
        spec = options.tags
        if spec is not None and spec.missing_resource_id:
            current = pl.col(RESOURCE_ID) if RESOURCE_ID in cbf.columns else pl.lit(None, pl.String)
            fallback = frame.select(_template(have, spec.missing_resource_id)).to_series()
            cbf = (
                cbf.with_columns(fallback.alias("_fallback"))
                .with_columns(
                    pl.when(current.is_null() | (current == ""))
                    .then(pl.col("_fallback"))
                    .otherwise(current)
                    .alias(RESOURCE_ID)
                )
                .drop("_fallback")
            )
    if options.resource_id_encoding == "service_prefix" and RESOURCE_ID in cbf.columns:
        if not prefixed:
            cbf = cbf.with_columns(encode_resource_id(cbf, source).alias(RESOURCE_ID))
    return cbf


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
    prefix = _service_prefix(services, pl.col("resource/service") if has_service else None, source)
    return (
        pl.when(resource_id.str.contains(r"[:/]"))
        .then(pl.concat_str(prefix, pl.lit("/"), resource_id))
        .otherwise(resource_id)
    )


def _service_prefix(services: pl.Series | None, service: pl.Expr | None, source: str) -> pl.Expr:
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


def _not_in(frame: pl.DataFrame, problems: pl.DataFrame) -> pl.Series:
    keys = problems.select(SOURCE_FILE, SOURCE_ROW).unique()
    marked = frame.select(SOURCE_FILE, SOURCE_ROW).join(
        keys.with_columns(pl.lit(True).alias("_bad")),
        on=[SOURCE_FILE, SOURCE_ROW],
        how="left",
        maintain_order="left",
    )
    return marked.get_column("_bad").is_null()


def _kept_with_rejects(frame: pl.DataFrame) -> list[str]:
    """The columns a rejected row keeps: lineage, its UTC hour (the month's part of a spread
    charge is worked out from it) and every source column."""
    hour = [HOUR] if HOUR in frame.columns else []
    return [*LINEAGE_COLUMNS, *hour, *[c for c in frame.columns if not c.startswith("_")]]


def _empty_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.head(0)
        .select(_kept_with_rejects(frame))
        .with_columns(pl.lit(None, pl.String).alias(REASONS))
    )


def _rejects(frame: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    """The source rows named in `problems`, whole, each with all its reasons in `_reasons`."""
    reasons = problems.group_by(SOURCE_FILE, SOURCE_ROW, maintain_order=True).agg(
        pl.format("column '{}': value '{}': {}", "column", pl.col("value").fill_null(""), "reason")
        .str.join("; ")
        .alias(REASONS)
    )
    return frame.select(_kept_with_rejects(frame)).join(
        reasons, on=[SOURCE_FILE, SOURCE_ROW], how="inner", maintain_order="left"
    )


def _require_columns(frame: pl.DataFrame, source: str, names: list[str]) -> None:
    missing = sorted({n for n in names if n not in frame.columns})
    if missing:
        have = ", ".join(c for c in frame.columns if not c.startswith("_"))
        raise BadSourceData(
            source,
            [
                Problem("(every file)", 1, name, None, f"column not found; the source has: {have}")
                for name in missing
            ],
        )


def source_cost(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[Decimal, int]:
    """The month's cost as the source states it (after rate card and currency), and how many
    rows hold no readable cost. Used to prove that sent + rejected = source, exactly.

    A spread charge whose hours fall in two months counts with its part of this month's
    hours, worked out from the charge itself (`month_share`)."""
    crossing = _crossing_charges(frame, options, month)
    short = None if crossing is not None else _plain_source_cost(frame, options, month)
    if short is not None:
        return short
    frame = _as_missing(frame, options.null_values)
    if options.rate_card is not None and month is not None:
        try:
            priced = pricing.with_rates(frame, options.rate_card, str(month))
            costs = pricing.rated_cost(
                priced, options.rate_card, allow_exponent=options.exponent == "allow"
            )
        except ValueError:
            return Decimal(0), frame.height
    else:
        spec = options.columns[COST]
        assert isinstance(spec, FromColumn)
        # The text once, then the checks on it: an expression used twice would be worked out twice.
        texts = frame.select(_decimal_text(_text(set(frame.columns), spec), options).alias("_cost"))
        text = pl.col("_cost")
        costs = texts.select(
            pl.when(~decimals.is_invalid(text)).then(decimals.canonical(text))
        ).to_series()
    if options.currency is not None and month is not None and str(month) in options.currency.rates:
        costs = pricing.multiply(costs, options.currency.rates[str(month)])
    if crossing is not None and month is not None and options.spread is not None:
        rows, ends = crossing
        shares = month_share(
            costs.gather(rows),
            frame.get_column(HOUR).gather(rows),
            ends.gather(rows),
            month,
            options.spread.extra_decimals,
        )
        costs = costs.cast(pl.String).scatter(rows, shares)
    return pricing.exact_total(costs), costs.null_count()


def _crossing_charges(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[pl.Series, pl.Series] | None:
    """The rows (indices) of spread charges with hours outside the month, and every row's
    charge end; None when there is none."""
    if options.spread is None or month is None or HOUR not in frame.columns or frame.is_empty():
        return None
    ends = charge_ends(frame, options)
    start = pl.col(HOUR)
    whole = whole_end(start, pl.lit(ends))
    rows = frame.select(
        pl.arg_where(((start < month.start) | (whole > month.end)).fill_null(False))
    ).to_series()
    return (rows, ends) if rows.len() else None


def _plain_source_cost(
    frame: pl.DataFrame, options: MappingOptions, month: Month | None
) -> tuple[Decimal, int] | None:
    """`source_cost` without new strings, when the cost is one text column whose every present
    value is plain decimal text already (as exports write it); None otherwise.

    Such text is left as it is by trimming, missing markers, `+` and exponent handling, and is
    never invalid: the readable total is the sum of the text, and only the empty cells are unreadable.
    """
    spec = options.columns.get(COST)
    rated = options.rate_card is not None and month is not None
    converted = (
        options.currency is not None and month is not None and str(month) in options.currency.rates
    )
    if rated or converted or not isinstance(spec, FromColumn):
        return None
    present = [c for c in spec.columns if c in frame.columns]
    if len(present) != 1 or frame.schema[present[0]] != pl.String:
        return None
    values = _as_missing(frame.select(present), options.null_values).get_column(present[0])
    total = decimals.plain_sum(values)
    return None if total is None else (total, values.null_count())
