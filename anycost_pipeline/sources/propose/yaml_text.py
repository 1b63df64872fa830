"""The proposal as the user reads it: a commented entry of `sources:`, a whole new anycost.yaml,
or an existing one with the entry added."""

import re
from typing import Any

from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.sources.propose.choices import Candidate
from anycost_pipeline.sources.propose.proposal import Proposal


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in text.splitlines()]


def _shown(candidate: Candidate) -> str:
    total = "" if candidate.total is None else f", total {candidate.total}"
    return f"{candidate.column}{total}"


def evidence_text(proposal: Proposal) -> str:
    """Each CBF column's chosen column, why, and the runner-up, as the user reads them."""
    lines = ["How each column was chosen (the runner-up is the next best; money shows its total):"]
    for choice in proposal.choices:
        lines.append(f"  {choice.cbf}: {_shown(choice.chosen)}")
        lines.append(f"      why: {choice.chosen.why}")
        runner = choice.runner_up
        lines.append(
            f"      runner-up: {_shown(runner)}: {runner.why}"
            if runner
            else "      runner-up: none"
        )
        if choice.close:
            lines.append(f"      {choice.ask()}")
        elif choice.note:
            lines.append(f"      note: {choice.note}")
    if proposal.source.get("preset") == "focus":
        lines.append("  every other column: as the FOCUS preset maps it")
    return "\n".join(lines) + "\n"


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
            lines += _comment(proposal.comments[key], inner)
        lines += _dumped(key, value, inner)
    columns = proposal.source.get("columns") or {}
    left_out = {
        k[len("left out ") :]: v for k, v in proposal.comments.items() if k.startswith("left out ")
    }
    header = bool(columns or left_out) or proposal.source.get("preset") != "focus"
    focus_cost = proposal.source.get("preset") == "focus" and COST not in columns
    if focus_cost and COST in proposal.comments:
        # The preset's cost, with its evidence, above the columns that would override it.
        lines += _comment(proposal.comments[COST], inner)
        lines.append(f"{inner}# {COST}: BilledCost (from the preset)")
    if header:
        lines.append(f"{inner}columns:")
    for cbf, spec in columns.items():
        why = left_out.get(cbf) if spec is None else proposal.comments.get(cbf)
        if why:
            lines += _comment(why, inner + indent)
        lines += _dumped(cbf, spec, inner + indent)
    if not columns and proposal.source.get("preset") == "focus" and not left_out:
        lines.append(f"{inner}columns: {{}}  # the preset maps every column; override any here")
    for cbf, why in left_out.items():
        if cbf not in columns:
            lines.append(f"{inner}{indent}# {cbf} left out: {why}")
    return "\n".join(lines) + "\n"


def new_project_text(proposal: Proposal, connection: str) -> str:
    """A whole anycost.yaml for a project that has none yet, with the proposed source."""
    return project_head(proposal.first_month, connection) + yaml_block(proposal)


def project_head(start_month: str, connection: str) -> str:
    """A new anycost.yaml up to its `sources:` key: the sandbox target, one connection."""
    head = [
        "# anycost.yaml: written by `anycost add-source`; see the README for every key.",
        "storage: .anycost",
        f"start_month: {start_month}",
        "cloudzero:",
        "  target: sandbox                # `live` sends to CloudZero (see the README's Going live)",
        "connections:",
        f"  {connection}:",
        f"    connection_id: env:{connection.upper()}_CONNECTION_ID",
        "sources:",
    ]
    return "\n".join(head) + "\n"


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
