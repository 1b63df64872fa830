"""The proposal: a source's keys from the sample's evidence (or `preset: focus`), tried with the
project's own mapping on every month of the sample; a column the mapping refuses, and CBF does
not require, is left out with a note."""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.errors import BadSourceData, MappingError, raise_problems
from anycost_pipeline.cbf.hours import months_of, rows_of_month, usage_hours
from anycost_pipeline.cbf.presets import FOCUS
from anycost_pipeline.cbf.verdicts import convert_and_check
from anycost_pipeline.config import FilesSource
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month
from anycost_pipeline.sources.propose.charge_column import find_charge_type
from anycost_pipeline.sources.propose.choices import Candidate, Choice, exact_total
from anycost_pipeline.sources.propose.context_columns import (
    CONTEXT,
    DECIMAL_CBF,
    find_context,
    find_tags,
)
from anycost_pipeline.sources.propose.cost_column import choose_cost, money_candidates
from anycost_pipeline.sources.propose.datasets import refuse_if_not_charges, refuse_lookup_table
from anycost_pipeline.sources.propose.evidence import decimal_style, nulls_in, probe_values
from anycost_pipeline.sources.propose.sample import ProposalError, read_sample
from anycost_pipeline.sources.propose.summary_rows import (
    SummaryRow,
    labelled_rows,
    sum_rows,
    without_rows,
)
from anycost_pipeline.sources.propose.time_column import find_time

# Columns every FOCUS export has (FOCUS 1.0 to 1.3 mandatory columns the preset reads).
FOCUS_MARKERS = ("BilledCost", "ChargePeriodStart", "ChargeCategory")


@dataclass
class Proposal:
    """A source's keys as they go into anycost.yaml, with a comment per key and what to check."""

    name: str
    source: dict[str, Any]
    comments: dict[str, str] = field(default_factory=dict)  # key (or column) → comment
    notes: list[str] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)  # the evidence, CBF column by column
    summary_rows: list[SummaryRow] = field(default_factory=list)

    def choice(self, cbf: str) -> Choice | None:
        return next((c for c in self.choices if c.cbf == cbf), None)

    @property
    def first_month(self) -> str:
        return self.months[0]

    @property
    def cost_column(self) -> str:
        if self.source.get("preset") == "focus":
            return FOCUS["columns"][COST]["column"]
        return self.source["columns"][COST]

    def proposed(self, cbf: str) -> str | None:
        """The source column proposed for a CBF column (the preset's, unless overridden)."""
        columns = dict(FOCUS["columns"]) if self.source.get("preset") == "focus" else {}
        columns.update(self.source.get("columns") or {})
        spec = columns.get(cbf)
        if isinstance(spec, dict):
            spec = spec.get("column") or spec.get("charge_category")
        return spec if isinstance(spec, str) else None


def is_focus(frame: pl.DataFrame) -> bool:
    """Whether the sample is a FOCUS export (it has every FOCUS_MARKERS column)."""
    return all(c in frame.columns for c in FOCUS_MARKERS)


def _focus_cost(frame: pl.DataFrame, invoice: Decimal | None) -> Choice:
    """BilledCost, as FOCUS defines the bill, with the runner-up; or the column that reaches
    the invoice's total when BilledCost does not."""
    billed = FOCUS["columns"][COST]["column"]
    total = exact_total(frame, billed)
    others = [c for _, c, _ in money_candidates(frame) if c.column != billed]
    if invoice is not None and total != invoice:
        return choose_cost(frame, invoice)[0]
    why = "FOCUS's BilledCost: what the invoice charges (the preset's cost)"
    if invoice is not None:
        why += f"; its total is the invoice's total, {invoice}"
    return Choice(COST, Candidate(billed, why, total), others[0] if others else None)


def _focus_keys(frame: pl.DataFrame, proposal: Proposal, cost: Choice) -> None:
    proposal.source["preset"] = "focus"
    proposal.comments["preset"] = (
        f"a FOCUS export ({', '.join(FOCUS_MARKERS)}): the README's FOCUS table says what each "
        "column becomes"
    )
    proposal.source["columns"] = {}
    if cost.chosen.column != FOCUS["columns"][COST]["column"]:
        proposal.source["columns"][COST] = cost.chosen.column
    proposal.comments[COST] = _commented(cost)
    proposal.choices.append(cost)


def _commented(choice: Choice) -> str:
    """The comment above a proposed column: why, the runner-up, and the question when close."""
    total = "" if choice.chosen.total is None else f" (total {choice.chosen.total})"
    lines = [f"{choice.chosen.column}{total}: {choice.chosen.why}"]
    if choice.runner_up is not None:
        runner = choice.runner_up
        total = "" if runner.total is None else f" (total {runner.total})"
        lines.append(f"runner-up: {runner.column}{total}: {runner.why}")
    if choice.close:
        lines.append(choice.ask())
    elif choice.note:
        lines.append(choice.note)
    return "\n".join(lines)


def _generic_keys(frame: pl.DataFrame, proposal: Proposal, cost_choice: Choice, style: str) -> None:
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
    cost = cost_choice.chosen.column
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
    runner = (
        Candidate(time.runner_up, "its name says time too, and every row reads as one")
        if time.runner_up
        else None
    )
    first = probe_values(frame, time.column)[0]
    time_choice = Choice(
        USAGE_START,
        Candidate(time.column, f"its name says time; every row reads as one (e.g. {first})"),
        runner,
    )
    proposal.choices += [cost_choice, time_choice]
    comments[USAGE_START] = _commented(time_choice)
    comments[COST] = _commented(cost_choice)
    if cost_choice.close:
        proposal.notes.append(cost_choice.ask())
    charge = find_charge_type(frame)
    taken = {time.column, cost}
    if charge is not None:
        column, words, unknown = charge
        taken.add(column)
        if words is None:
            columns["lineitem/type"] = column
            why = "its name says charge type; charge words the adaptor reads as they are"
        else:
            columns["lineitem/type"] = {"column": column, "map": words}
            why = "its name says charge type; vendor charge words, mapped to CBF types"
        proposal.choices.append(Choice("lineitem/type", Candidate(column, why)))
        comments["lineitem/type"] = _commented(proposal.choices[-1])
        if unknown:
            proposal.notes.append(
                f"lineitem/type: {', '.join(map(repr, unknown))} in {column} name no known "
                "charge; mapped to Usage: check them"
            )
    context, choices = find_context(frame, taken)
    for cbf, column in context.items():
        columns[cbf] = column
        taken.add(column)
    for choice in choices:
        proposal.choices.append(choice)
        comments[choice.cbf] = _commented(choice)
    exponents = [
        columns[c]
        for c in DECIMAL_CBF
        if c in columns and decimal_style(probe_values(frame, columns[c])) == "exponent"
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
        comments["resource/region"] += "\nCloudZero writes no-region rather than global"
    source["columns"] = columns
    tags = find_tags(frame, taken)
    if tags is not None:
        # As the FOCUS preset does: rows without an id are filed under their account.
        for cbf, prefix in (("resource/account", "account"), ("resource/service", "service")):
            anchor = columns.get(cbf)
            if isinstance(anchor, str) and not set(anchor) & set(":{}"):
                tags["missing_resource_id"] = f"{prefix}-{{{anchor}}}"
                break
        if "resource/id" not in columns and "missing_resource_id" not in tags:
            proposal.notes.append(
                "tags: no resource id, account or service column was found, and CloudZero "
                "needs a resource id on every row of a month with tags; the tags are left out"
            )
        else:
            source["tags"] = tags
            if "columns" in tags:
                why = (
                    f"{counted(len(tags['columns']), 'column')} whose name says tag, team, "
                    "owner, environment or cost center: how costs are split"
                )
            else:
                why = f"many tags per row ({tags['format']})"
            if "missing_resource_id" in tags:
                why += (
                    f"; a row without a resource id is filed under {tags['missing_resource_id']}"
                    " (CloudZero needs one on every tagged row)"
                )
            tagged = tags.get("columns") or {tags["column"]: tags["column"]}
            proposal.choices.append(Choice("tags", Candidate(", ".join(tagged.values()), why)))
            comments["tags"] = f"{', '.join(tagged.values())}: {why}"


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


def _cost(frame: pl.DataFrame, invoice: Decimal | None) -> tuple[Choice, str]:
    if is_focus(frame):
        return _focus_cost(frame, invoice), "plain"
    try:
        return choose_cost(frame, invoice)
    except ProposalError as error:
        try:
            find_time(frame)
        except ProposalError:
            refuse_lookup_table(frame, str(error).split(";")[0])
        raise


def propose(
    path: Path, name: str, connection: str, total: Decimal | None = None
) -> tuple[Proposal, pl.DataFrame]:
    """The proposed source for a sample export, tried on every month the sample holds.

    `total` is the invoice's total: the proposed cost column must add up to it exactly. Rows
    that sum others (a `Total` row) are found, listed in `summary_rows`, and left out of the
    trial and the totals.
    """
    frame, keys = read_sample(path, name)
    refuse_if_not_charges(frame)
    proposal = Proposal(name, {"connection": connection, **keys})
    proposal.comments["path"] = (
        "the sample itself; a glob such as exports/vendor/*.csv reads every export"
    )
    proposal.summary_rows = labelled_rows(frame)
    frame = without_rows(frame, proposal.summary_rows)
    cost, style = _cost(frame, total)
    summed = sum_rows(frame, cost.chosen.column)
    if summed:
        proposal.summary_rows = sorted([*proposal.summary_rows, *summed], key=lambda r: r.row)
        frame = without_rows(frame, summed)
        cost, style = _cost(frame, total)
    if proposal.summary_rows:
        proposal.notes.append(summary_note(proposal.summary_rows))
    nulls = nulls_in(frame)
    if is_focus(frame):
        _focus_keys(frame, proposal, cost)
    else:
        _generic_keys(frame, proposal, cost, style)
    if nulls and proposal.source.get("preset") != "focus":
        proposal.source["null_values"] = nulls
        proposal.comments["null_values"] = "texts the sample writes for an empty value"
    for _ in range(len(CONTEXT) + len(FOCUS["columns"])):
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


def summary_note(rows: list[SummaryRow]) -> str:
    """What to do about summary rows: anycost.yaml cannot leave rows out, so clean the export."""
    listed = "; ".join(f"row {r.row} ({r.why})" for r in rows)
    return (
        f"summary rows: {listed}. Counted, they would send the month's cost twice, and "
        "anycost.yaml has no key that leaves rows out: remove them from the export (or export "
        "it without totals) before the source reads it. The totals above leave them out"
    )


def _refusal(error: Exception) -> tuple[str, str]:
    if isinstance(error, _Refused):
        return error.column, f"{error.column} holds {error.value!r} ({error.reason})"
    if isinstance(error, BadSourceData) and error.problems:
        first = error.problems[0]
        return first.column, (
            f"{first.column}, row {first.row}, holds {first.value!r} ({first.reason})"
        )
    return "", str(error)
