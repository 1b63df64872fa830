"""The proposal: a source's keys from the sample's evidence (or `preset: focus`), with summary
rows set aside and files that are not charges refused, tried with the project's own mapping on
every month of the sample."""

from decimal import Decimal
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.sources.propose.choices import Choice
from anycost_pipeline.sources.propose.cost_column import choose_cost
from anycost_pipeline.sources.propose.datasets import refuse_if_not_charges, refuse_lookup_table
from anycost_pipeline.sources.propose.draft import FOCUS_MARKERS, Proposal, is_focus
from anycost_pipeline.sources.propose.evidence import nulls_in
from anycost_pipeline.sources.propose.sample import ProposalError, read_sample
from anycost_pipeline.sources.propose.source_keys import focus_cost, focus_keys, generic_keys
from anycost_pipeline.sources.propose.summary_rows import (
    SummaryRow,
    labelled_rows,
    sum_rows,
    without_rows,
)
from anycost_pipeline.sources.propose.time_column import find_time
from anycost_pipeline.sources.propose.trial import tried

__all__ = ["FOCUS_MARKERS", "Proposal", "is_focus", "propose", "summary_note"]


def _cost(frame: pl.DataFrame, invoice: Decimal | None) -> tuple[Choice, str | MoneyFormat]:
    if is_focus(frame):
        return focus_cost(frame, invoice), "plain"
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
        focus_keys(frame, proposal, cost)
    else:
        generic_keys(frame, proposal, cost, style)
    if nulls and proposal.source.get("preset") != "focus":
        proposal.source["null_values"] = nulls
        proposal.comments["null_values"] = "texts the sample writes for an empty value"
    tried(frame, proposal, connection)
    return proposal, frame


def summary_note(rows: list[SummaryRow]) -> str:
    """What to do about summary rows: anycost.yaml cannot leave rows out, so clean the export."""
    listed = "; ".join(f"row {r.row} ({r.why})" for r in rows)
    return (
        f"summary rows: {listed}. Counted, they would send the month's cost twice, and "
        "anycost.yaml has no key that leaves rows out: remove them from the export (or export "
        "it without totals) before the source reads it. The totals shown leave them out"
    )
