"""A source's keys from the sample's evidence: `preset: focus` for a FOCUS export, else a column
for each CBF column the evidence finds, each commented with why and its runner-up."""

from decimal import Decimal
from typing import Any

import polars as pl

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.cbf.money import MoneyFormat
from anycost_pipeline.cbf.presets import FOCUS
from anycost_pipeline.figures import counted
from anycost_pipeline.sources.propose.charge_column import find_charge_type
from anycost_pipeline.sources.propose.choices import Candidate, Choice, exact_total
from anycost_pipeline.sources.propose.context_columns import DECIMAL_CBF, find_context, find_tags
from anycost_pipeline.sources.propose.cost_column import choose_cost, money_candidates
from anycost_pipeline.sources.propose.draft import FOCUS_MARKERS, Proposal
from anycost_pipeline.sources.propose.evidence import decimal_style, probe_values
from anycost_pipeline.sources.propose.time_column import find_time


def focus_cost(frame: pl.DataFrame, invoice: Decimal | None) -> Choice:
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


def focus_keys(frame: pl.DataFrame, proposal: Proposal, cost: Choice) -> None:
    proposal.source["preset"] = "focus"
    proposal.comments["preset"] = (
        f"a FOCUS export ({', '.join(FOCUS_MARKERS)}): the README's FOCUS table says what each "
        "column becomes"
    )
    proposal.source["columns"] = {}
    if cost.chosen.column != FOCUS["columns"][COST]["column"]:
        proposal.source["columns"][COST] = cost.chosen.column
    proposal.comments[COST] = _commented(cost)
    time = FOCUS["columns"][USAGE_START]["column"]
    why = f"FOCUS's charge period start (the preset); e.g. {probe_values(frame, time)[0]}"
    proposal.choices += [cost, Choice(USAGE_START, Candidate(time, why))]


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


def generic_keys(
    frame: pl.DataFrame, proposal: Proposal, cost_choice: Choice, style: str | MoneyFormat
) -> None:
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
    columns: dict[str, Any] = {USAGE_START: time.column, COST: cost}
    if isinstance(style, MoneyFormat):
        # On the cost column alone: another decimal column may write plain numbers.
        columns[COST] = {"column": cost, "money_format": style.model_dump(exclude_defaults=True)}
        cost_choice = Choice(
            COST,
            Candidate(
                cost,
                f"{cost_choice.chosen.why}; written as money, e.g. {style.example()}: one "
                "money_format reads every value one way (a later value that does not fit it is "
                "refused by name, never read another way)",
                cost_choice.chosen.total,
            ),
            cost_choice.runner_up,
            cost_choice.close,
            cost_choice.note,
        )
    runner = (
        Candidate(time.runner_up, "its name says time too, and every row reads as one")
        if time.runner_up
        else None
    )
    first = probe_values(frame, time.column)[0]
    why = f"its name ({time.said}) says usage time; every row reads as a time (e.g. {first})"
    time_choice = Choice(USAGE_START, Candidate(time.column, why), runner)
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
