"""A first mapping for a new source, proposed from one sample export: `anycost add-source`.

The sample is read exactly as the source will be (every value as text). A FOCUS export gets
`preset: focus`; any other export gets a column for each CBF column whose source column can be
told from its name and its values (times and their format, costs and their notation, charge
words, ids, tags). The proposal is then tried with the project's own mapping on the sample's
months: a column whose values the mapping refuses, and which CBF does not require, is left out
with a note saying why, so the proposal always converts the sample with its cost conserved, or
says plainly why it cannot.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from anycost_pipeline.cbf.charges import CHARGE_TYPES, charge_key
from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.errors import BadSourceData, MappingError, raise_problems
from anycost_pipeline.cbf.hours import months_of, rows_of_month, usage_hours
from anycost_pipeline.cbf.presets import FOCUS
from anycost_pipeline.cbf.times import utc_time
from anycost_pipeline.cbf.verdicts import convert_and_check
from anycost_pipeline.config import FilesSource
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month
from anycost_pipeline.sources.files import SourceFilesError, read_file

# Columns every FOCUS export has (FOCUS 1.0 to 1.3 mandatory columns the preset reads).
FOCUS_MARKERS = ("BilledCost", "ChargePeriodStart", "ChargeCategory")
PROBE_ROWS = 5_000
NULL_WORDS = ("NULL", "null", "None", "N/A", "n/a", "NaN")

_PLAIN = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$")
_EXPONENT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+\s*$")
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d{1,3}(\.\d{3})*,\d+\s*$|^\s*[+-]?\d+,\d+\s*$")
_GROUPED = re.compile(r"^\s*[+-]?\d{1,3}(,\d{3})+(\.\d+)?\s*$")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2}|UTC)\s*$")


class ProposalError(ValueError):
    """The sample cannot be read, or no mapping can be proposed for it; the message says why."""


@dataclass
class Proposal:
    """A source's keys as they go into anycost.yaml, with a comment per key and what to check."""

    name: str
    source: dict[str, Any]
    comments: dict[str, str] = field(default_factory=dict)  # key (or column) → comment
    notes: list[str] = field(default_factory=list)
    months: list[str] = field(default_factory=list)

    @property
    def first_month(self) -> str:
        return self.months[0]

    @property
    def cost_column(self) -> str:
        if self.source.get("preset") == "focus":
            return FOCUS["columns"][COST]["column"]
        return self.source["columns"][COST]


# --- Reading the sample ---------------------------------------------------------------------


def sample_format(path: Path) -> tuple[str, str]:
    """The `format` and `compression` of an export, from its name (`.csv.gz`, `.ndjson`, ...)."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = "gzip" if suffixes and suffixes[-1] in (".gz", ".gzip") else "none"
    if compression == "gzip":
        suffixes = suffixes[:-1]
    ending = suffixes[-1] if suffixes else ""
    formats = {
        ".csv": "csv",
        ".txt": "csv",
        ".tsv": "tsv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".ndjson": "ndjson",
        ".jsonl": "ndjson",
        ".json": "json",
    }
    if ending not in formats:
        raise ProposalError(
            f"{path}: cannot tell the format from the name; name the sample .csv, .tsv, "
            ".parquet, .json or .ndjson (optionally .gz)"
        )
    return formats[ending], compression


def _json_lines(path: Path, compression: str) -> bool:
    """Whether a `.json` file holds one record per line (NDJSON) rather than one document."""
    import gzip

    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rt", encoding="utf-8-sig") as handle:  # type: ignore[operator]
        first = handle.readline().strip()
        second = handle.readline().strip()
    return first.startswith("{") and (second.startswith("{") or not second)


def read_sample(path: Path, name: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The sample's rows as the source will read them, and the keys that say how to read it."""
    if not path.is_file():
        raise ProposalError(f"{path}: no such file")
    fmt, compression = sample_format(path)
    if fmt == "json" and _json_lines(path, compression):
        fmt = "ndjson"
    keys: dict[str, Any] = {"kind": "files", "path": str(path), "format": fmt}
    if compression == "gzip":
        keys["compression"] = "gzip"
    if fmt == "csv":
        with path.open("rb") as handle:
            head = handle.read(4096)
        if compression == "none":
            line = head.split(b"\n", 1)[0]
            if line.count(b";") > line.count(b","):
                keys["delimiter"] = ";"
    reader = FilesSource.model_validate({"connection": "c", "columns": _ANY_COLUMNS, **keys})
    try:
        frame = read_file(name, reader, str(path))
    except SourceFilesError as error:
        raise ProposalError(str(error)) from None
    if frame.height == 0:
        raise ProposalError(f"{path}: the sample holds no rows; choose an export with some")
    return frame, keys


_ANY_COLUMNS = {USAGE_START: "t", COST: "c"}


# --- Telling columns apart ------------------------------------------------------------------


def _words(name: str) -> str:
    """A column name lower-cased without separators: `lineItem/UnblendedCost` → `lineitemunblendedcost`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _values(frame: pl.DataFrame, column: str) -> pl.Series:
    text = frame.get_column(column).head(PROBE_ROWS).cast(pl.String).str.strip_chars()
    return text.filter(text.is_not_null() & (text != "") & ~text.is_in(list(NULL_WORDS)))


def _data_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("_")]


def _nulls_in(frame: pl.DataFrame) -> list[str]:
    words = set()
    for column in _data_columns(frame):
        present = frame.get_column(column).head(PROBE_ROWS).cast(pl.String).str.strip_chars()
        words.update(w for w in NULL_WORDS if present.eq(w).any())
    return sorted(words)


# Time formats tried in order; the first that reads every value of a column wins. Day-first and
# month-first are told apart by a value whose first or second field is above 12.
_TIME_FORMATS = (
    "iso",
    "M/D/YYYY",
    "M/D/YY",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "D.M.YYYY",
    "epoch_seconds",
    "epoch_millis",
)
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/\d{2,4}")


@dataclass(frozen=True)
class TimeColumn:
    column: str
    time_format: str | list[str] | None
    has_offset: bool
    note: str


def _time_format(values: pl.Series) -> tuple[str | list[str] | None, str] | None:
    """The format that reads every value, and a note on how it was chosen; None if none does."""
    frame = values.to_frame("t")
    slash = values.str.extract_groups(_SLASH.pattern).struct.unnest().drop_nulls()
    day_first = bool(slash.height and (slash[:, 0].cast(pl.Int32) > 12).any())
    for fmt in _TIME_FORMATS:
        if fmt.startswith("%d/") and not day_first:
            continue
        if fmt in ("M/D/YYYY", "M/D/YY") and day_first:
            continue
        if fmt.startswith("epoch") and not values.str.contains(r"^\d{9,14}$").all():
            continue
        read = frame.select(utc_time(pl.col("t"), "UTC", fmt).is_not_null().all()).item()
        if not read:
            continue
        if fmt == "iso":
            return None, ""
        note = ""
        if fmt.startswith("M/D") and slash.height:
            note = (
                "month first (no value has a first field above 12; if the vendor writes the day "
                "first, use %d/%m/%Y)"
            )
        return fmt, note
    return None


_TIME_NAMES = ("usagestart", "periodstart", "start", "usagedate", "date", "time", "day", "hour")


def find_time(frame: pl.DataFrame) -> TimeColumn:
    """The column of usage start times: a name that says so, and values that all read as times."""
    candidates = []
    for column in _data_columns(frame):
        words = _words(column)
        rank = next((i for i, n in enumerate(_TIME_NAMES) if n in words), None)
        if rank is None or "end" in words.replace("spend", "") or "billingperiod" in words:
            continue
        values = _values(frame, column)
        if values.len() == 0 or values.str.contains(r"^-?\d+(\.\d+)?$").all() and rank > 4:
            continue
        found = _time_format(values)
        if found is not None:
            candidates.append((rank, column, found, values))
    if not candidates:
        raise ProposalError(
            "no column reads as the usage time (a name such as date, usage_start or time, with "
            "a date or date-time on every row); map time/usage_start by hand"
        )
    _, column, (fmt, note), values = min(candidates, key=lambda c: c[0])
    has_offset = bool(values.str.contains(_OFFSET.pattern).all()) or str(fmt).startswith("epoch")
    return TimeColumn(column, fmt, has_offset, note)


def _decimal_style(values: pl.Series) -> str | None:
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


_COST_NAMES = {
    "unblendedcost": 9,
    "billedcost": 9,
    "costinbillingcurrency": 8,
    "cost": 6,
    "amount": 5,
    "charge": 4,
    "total": 3,
    "price": 1,
}
_NOT_COST = (
    "rate",
    "unitprice",
    "ondemand",
    "listcost",
    "list",
    "quantity",
    "usageamount",
    "amortized",
    "effective",
    "contracted",
    "blendedcost",
    "normalized",
    "upfront",
    "recurring",
    "commitment",
    "reservation",
    "savingsplan",
    "usd",
    "pricingcurrency",
)


def _cost_rank(column: str) -> int | None:
    words = _words(column)
    best = max((score for name, score in _COST_NAMES.items() if name in words), default=None)
    if best is None:
        return None
    penalty = sum(1 for w in _NOT_COST if w in words and not words.endswith("unblendedcost"))
    return best - 4 * penalty


def find_cost(frame: pl.DataFrame) -> tuple[str, str]:
    """The billed cost column and its decimal style."""
    candidates = []
    for index, column in enumerate(_data_columns(frame)):
        rank = _cost_rank(column)
        if rank is None or rank <= 0:
            continue
        style = _decimal_style(_values(frame, column))
        if style is not None:
            candidates.append((-rank, index, column, style))
    if not candidates:
        raise ProposalError(
            "no column reads as the billed cost (a name such as cost, amount or billed_cost, "
            "with a number on every row); map cost/cost by hand"
        )
    _, _, column, style = min(candidates)
    return column, style


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
    for column in _data_columns(frame):
        words = _words(column)
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


# Context columns: CBF column → names (without separators) that say it, best first.
_CONTEXT = {
    "resource/service": ("productcode", "servicename", "metercategory", "service", "product"),
    "resource/account": (
        "usageaccountid",
        "subaccountid",
        "subscriptionid",
        "accountid",
        "projectid",
        "account",
        "subscription",
        "project",
    ),
    "resource/region": ("productregion", "regionid", "regioncode", "region", "location"),
    "resource/id": ("resourceid", "resourcearn", "instanceid", "resource"),
    "lineitem/id": ("lineitemid", "lineid", "recordid"),
    "lineitem/description": ("lineitemdescription", "chargedescription", "description"),
    "usage/amount": ("usageamount", "consumedquantity", "usagequantity", "quantity"),
    "usage/units": ("pricingunit", "usageunit", "consumedunit", "unitofmeasure", "unit", "units"),
    "resource/usage_family": ("productfamily", "usagefamily"),
    "action/operation": ("lineitemoperation", "operation"),
    "action/usage_type": ("lineitemusagetype", "usagetype", "skuid", "meter"),
    "bill/invoice_id": ("invoiceid",),
    "cost/on_demand_cost": ("publicondemandcost", "ondemandcost", "listcost"),
    "cost/amortized_cost": ("amortizedcost", "effectivecost"),
    "time/usage_end": ("usageenddate", "usageend", "periodend", "enddate", "endtime", "end"),
}
_DECIMAL_CBF = ("usage/amount", "cost/on_demand_cost", "cost/amortized_cost")


def find_context(frame: pl.DataFrame, taken: set[str]) -> dict[str, str]:
    """A source column for each context CBF column whose name says it (each column used once)."""
    out: dict[str, str] = {}
    columns = [c for c in _data_columns(frame) if c not in taken]
    for cbf, names in _CONTEXT.items():
        for name in names:
            found = [
                c
                for c in columns
                if c not in out.values()
                and (_words(c) == name or _words(c).endswith(name))
                and "billingperiod" not in _words(c)
                and not _words(c).startswith("resourcetags")
            ]
            found = [c for c in found if _values(frame, c).len()]
            if cbf in _DECIMAL_CBF:
                found = [
                    c for c in found if _decimal_style(_values(frame, c)) in ("plain", "exponent")
                ]
            if found:
                out[cbf] = found[0]
                break
    return out


_TAG_PREFIXES = ("resourcetags/user:", "resourcetags/", "tags/", "tag:", "tag/", "label:")
_TAG_COLUMNS = ("tags", "labels", "resourcetags")


def find_tags(frame: pl.DataFrame) -> dict[str, Any] | None:
    """Tags: one column per tag (`resourceTags/user:team`), or one column of many (JSON or k=v)."""
    named = {}
    for column in _data_columns(frame):
        lower = column.lower()
        prefix = next((p for p in _TAG_PREFIXES if lower.startswith(p)), None)
        if prefix and len(column) > len(prefix) and _values(frame, column).len():
            named[column[len(prefix) :]] = column
    if named:
        return {"columns": named}
    for column in _data_columns(frame):
        if _words(column) not in _TAG_COLUMNS:
            continue
        values = _values(frame, column)
        if values.len() == 0:
            continue
        if values.str.contains(r'^\s*\{?\s*"').all():
            return {"column": column, "format": "json"}
        if values.str.contains(r"^[^=;]+=[^;]*(;[^=;]+=[^;]*)*;?$").all():
            return {"column": column, "format": "pairs"}
    return None


# --- The proposal ---------------------------------------------------------------------------


def is_focus(frame: pl.DataFrame) -> bool:
    return all(c in frame.columns for c in FOCUS_MARKERS)


def _focus_keys(frame: pl.DataFrame, proposal: Proposal) -> None:
    proposal.source["preset"] = "focus"
    proposal.comments["preset"] = (
        f"a FOCUS export ({', '.join(FOCUS_MARKERS)}): the README's FOCUS table says what each "
        "column becomes"
    )
    proposal.source["columns"] = {}


def _generic_keys(frame: pl.DataFrame, proposal: Proposal) -> None:
    source, comments = proposal.source, proposal.comments
    time = find_time(frame)
    if time.time_format is not None:
        source["time_format"] = time.time_format
        comments["time_format"] = time.note or f"read from the values of {time.column}"
    source["timezone"] = "UTC"
    comments["timezone"] = (
        "the times carry their offset, so the zone only matters for dates without one"
        if time.has_offset
        else "the times carry no offset: set the vendor's IANA time zone if it is not UTC"
    )
    cost, style = find_cost(frame)
    if style == "exponent":
        source["exponent"] = "allow"
        comments["exponent"] = f"{cost} writes some costs as 1.5E-8: converted exactly"
    elif style in ("comma", "grouped"):
        written = "1.234,56 (a decimal comma)" if style == "comma" else "1,234.56 (grouped)"
        raise ProposalError(
            f"the cost column {cost!r} writes numbers as {written}; the adaptor reads costs "
            "only as plain decimals (1234.56) so that no digit is ever guessed. Export the "
            "numbers without grouping and with a decimal point, then run add-source again"
        )
    columns: dict[str, Any] = {USAGE_START: time.column, COST: cost}
    comments[USAGE_START] = f"{time.column}: every row reads as a time"
    comments[COST] = f"{cost}: the billed cost, a number on every row"
    charge = find_charge_type(frame)
    taken = {time.column, cost}
    if charge is not None:
        column, words, unknown = charge
        taken.add(column)
        if words is None:
            columns["lineitem/type"] = column
            comments["lineitem/type"] = f"{column}: charge words the adaptor reads as they are"
        else:
            columns["lineitem/type"] = {"column": column, "map": words}
            comments["lineitem/type"] = f"{column}: vendor charge words, mapped to CBF types"
            if unknown:
                proposal.notes.append(
                    f"lineitem/type: {', '.join(map(repr, unknown))} in {column} name no known "
                    "charge; mapped to Usage: check them"
                )
    for cbf, column in find_context(frame, taken).items():
        columns[cbf] = column
        taken.add(column)
    exponents = [
        columns[c]
        for c in _DECIMAL_CBF
        if c in columns and _decimal_style(_values(frame, columns[c])) == "exponent"
    ]
    if exponents and "exponent" not in source:
        source["exponent"] = "allow"
        comments["exponent"] = f"{exponents[0]} writes some numbers as 1.5E-8: converted exactly"
    region = columns.get("resource/region")
    if region is not None:
        columns["resource/region"] = {
            "column": region,
            "map": {"global": "no-region", "Global": "no-region"},
            "unmapped": "keep",
        }
        comments["resource/region"] = "CloudZero writes no-region rather than global"
    source["columns"] = columns
    tags = find_tags(frame)
    if tags is not None:
        if "resource/id" not in columns:
            proposal.notes.append(
                "tags: no resource id column was found, and CloudZero needs one on every row "
                "of a month with tags; the tags are left out (add them with resource/id)"
            )
        else:
            # As the FOCUS preset does: rows without an id are filed under their account.
            for cbf, prefix in (("resource/account", "account"), ("resource/service", "service")):
                anchor = columns.get(cbf)
                if isinstance(anchor, str) and not set(anchor) & set(":{}"):
                    tags["missing_resource_id"] = f"{prefix}-{{{anchor}}}"
                    break
            source["tags"] = tags
            comments["tags"] = (
                counted(len(tags["columns"]), "tag column")
                if "columns" in tags
                else f"{tags['column']}: many tags per row ({tags['format']})"
            )


def _months(frame: pl.DataFrame, name: str, source: FilesSource) -> tuple[pl.DataFrame, list[str]]:
    # The months as the pipeline places the rows (the same hours, the same months).
    timed, problems = usage_hours(
        frame, name, source.time_column, source.timezone, source.time_format, source.ambiguous_time
    )
    raise_problems(name, problems)
    return timed, months_of(timed)


def _try(frame: pl.DataFrame, proposal: Proposal, connection: str) -> FilesSource:
    """Convert every month of the sample with the proposed keys; raise on the first refusal."""
    source = FilesSource.model_validate({"connection": connection, **proposal.source})
    timed, proposal.months = _months(frame, proposal.name, source)
    for month in map(Month.parse, proposal.months):
        checked = convert_and_check(
            rows_of_month(timed, month), proposal.name, source.mapping, month, 1_000_000
        )
        if not checked.problems.is_empty():
            row = checked.problems.row(0, named=True)
            raise _Refused(row["column"], row.get("value"), row["reason"])
        if not checked.conservation.passed:
            raise ProposalError(
                f"{month}: the proposed mapping sends {checked.conservation.cbf_total} of the "
                f"sample's {checked.conservation.source_total}; map the source by hand"
            )
    return source


class _Refused(Exception):
    def __init__(self, column: str, value: object, reason: str) -> None:
        super().__init__(f"{column}: {value!r}: {reason}")
        self.column, self.value, self.reason = column, value, reason


def _cbf_columns_of(source: dict[str, Any], column: str) -> list[str]:
    """The CBF columns (optional ones only) that read the source column."""
    specs = dict(FOCUS["columns"]) if source.get("preset") == "focus" else {}
    specs.update(source.get("columns") or {})
    found = []
    for cbf, spec in specs.items():
        if spec is None or cbf in (USAGE_START, COST):
            continue
        named = (
            spec if isinstance(spec, str) else (spec.get("column") or spec.get("charge_category"))
        )
        names = named if isinstance(named, list) else [named]
        if column in names or column == cbf:
            found.append(cbf)
    return found


def _leave_out(proposal: Proposal, cbf: str, why: str) -> None:
    columns = proposal.source.setdefault("columns", {})
    if proposal.source.get("preset") == "focus":
        columns[cbf] = None
    else:
        columns.pop(cbf, None)
    proposal.comments[f"left out {cbf}"] = why
    proposal.notes.append(f"{cbf} is left out: {why}")


def propose(path: Path, name: str, connection: str) -> tuple[Proposal, pl.DataFrame]:
    """The proposed source for a sample export, tried on every month the sample holds."""
    frame, keys = read_sample(path, name)
    proposal = Proposal(name, {"connection": connection, **keys})
    proposal.comments["path"] = (
        "the sample itself; a glob such as exports/vendor/*.csv reads every export"
    )
    nulls = _nulls_in(frame)
    (_focus_keys if is_focus(frame) else _generic_keys)(frame, proposal)
    if nulls and proposal.source.get("preset") != "focus":
        proposal.source["null_values"] = nulls
        proposal.comments["null_values"] = "texts the sample writes for an empty value"
    for _ in range(len(_CONTEXT) + len(FOCUS["columns"])):
        try:
            _try(frame, proposal, connection)
            return proposal, frame
        except (_Refused, BadSourceData, MappingError) as error:
            column, why = _refusal(error)
            if proposal.source.get("tags") is not None and (
                column.startswith("resource/tag:")
                or column == proposal.source["tags"].get("column")
            ):
                proposal.source.pop("tags")
                proposal.notes.append(f"tags are left out: {why}")
                continue
            leaving = _cbf_columns_of(proposal.source, column)
            if not leaving:
                raise ProposalError(
                    f"the sample cannot be converted as proposed: {why}; map this column by hand"
                ) from None
            for cbf in leaving:
                _leave_out(proposal, cbf, why)
    raise ProposalError("no mapping converts the sample; map the source by hand")


def _refusal(error: Exception) -> tuple[str, str]:
    if isinstance(error, _Refused):
        return error.column, f"{error.column} holds {error.value!r} ({error.reason})"
    if isinstance(error, BadSourceData) and error.problems:
        first = error.problems[0]
        return first.column, (
            f"{first.column}, row {first.row}, holds {first.value!r} ({first.reason})"
        )
    return "", str(error)


# --- The YAML the user reads ----------------------------------------------------------------


def _dumped(key: str, value: Any, indent: str) -> list[str]:
    import yaml

    text = yaml.safe_dump(
        {key: value}, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    return [indent + line for line in text.rstrip("\n").splitlines()]


def yaml_block(proposal: Proposal, indent: str = "  ") -> str:
    """The source as a commented entry of `sources:` (indented once), for anycost.yaml."""
    lines = [f"{indent}# Proposed by `anycost add-source` from {proposal.source['path']}"]
    lines.append(f"{indent}# ({', '.join(proposal.months)}); accept it or edit it.")
    for note in proposal.notes:
        lines.append(f"{indent}# CHECK: {note}")
    lines.append(f"{indent}{proposal.name}:")
    inner = indent * 2
    for key, value in proposal.source.items():
        if key == "columns":
            continue
        if key in proposal.comments:
            lines.append(f"{inner}# {proposal.comments[key]}")
        lines += _dumped(key, value, inner)
    columns = proposal.source.get("columns") or {}
    left_out = {
        k[len("left out ") :]: v for k, v in proposal.comments.items() if k.startswith("left out ")
    }
    if columns or proposal.source.get("preset") != "focus":
        lines.append(f"{inner}columns:")
    elif left_out:
        lines.append(f"{inner}columns:")
    for cbf, spec in columns.items():
        why = left_out.get(cbf) if spec is None else proposal.comments.get(cbf)
        if why:
            lines.append(f"{inner}{indent}# {why}")
        lines += _dumped(cbf, spec, inner + indent)
    if not columns and proposal.source.get("preset") == "focus" and not left_out:
        lines.append(f"{inner}columns: {{}}  # the preset maps every column; override any here")
    for cbf, why in left_out.items():
        if cbf not in columns:
            lines.append(f"{inner}{indent}# {cbf} left out: {why}")
    return "\n".join(lines) + "\n"


def new_project_text(proposal: Proposal, connection: str) -> str:
    """A whole anycost.yaml for a project that has none yet: the sandbox target, one connection."""
    head = [
        "# anycost.yaml: written by `anycost add-source`; see the README for every key.",
        "storage: .anycost",
        f"start_month: {proposal.first_month}",
        "cloudzero:",
        "  target: sandbox                # `live` sends to CloudZero (see the README's Going live)",
        "connections:",
        f"  {connection}:",
        f"    connection_id: env:{connection.upper()}_CONNECTION_ID",
        "sources:",
    ]
    return "\n".join(head) + "\n" + yaml_block(proposal)


_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


def appended(text: str, block: str) -> str:
    """anycost.yaml's text with the block added at the end of its `sources:` mapping."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^sources\s*:", line)), None)
    if start is None:
        return text.rstrip("\n") + "\nsources:\n" + block
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if _TOP_KEY.match(lines[i]):
            end = i
            break
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    out = lines[:end] + block.rstrip("\n").splitlines() + lines[end:]
    return "\n".join(out) + "\n"
