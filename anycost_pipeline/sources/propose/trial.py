"""The proposal tried with the project's own mapping on every month of the sample: a column the
mapping refuses, and CBF does not require, is left out with a note saying why."""

from typing import Any

import polars as pl

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.errors import BadSourceData, MappingError, raise_problems
from anycost_pipeline.cbf.hours import months_of, rows_of_month, usage_hours
from anycost_pipeline.cbf.presets import FOCUS
from anycost_pipeline.cbf.verdicts import convert_and_check
from anycost_pipeline.config import FilesSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.propose.context_columns import CONTEXT
from anycost_pipeline.sources.propose.draft import Proposal
from anycost_pipeline.sources.propose.sample import ProposalError


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


def tried(frame: pl.DataFrame, proposal: Proposal, connection: str) -> None:
    """Convert every month of the sample as proposed; leave out each optional column the mapping
    refuses (with why), until it converts; a ProposalError when a required one is refused."""
    for _ in range(len(CONTEXT) + len(FOCUS["columns"])):
        try:
            _try(frame, proposal, connection)
            return
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
