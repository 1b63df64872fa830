"""The mapping assistant on a labelled corpus: every sample export of the project and a small
file for each trap that once sent the wrong money, each with its mapping written by hand
(`propose_corpus/*.yaml`, described in its README).

The test prints how many proposals are right, CBF column by CBF column, and requires all of them
to be right: a wrong cost column sends the wrong money with every check passing, so `cost/cost`
must be 100 %; the other columns are held at what the assistant reaches today (100 % as well).
Run it with `-s` to see the figures.
"""

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from anycost_pipeline.sources.propose import NotCharges, Proposal, propose

CORPUS = Path(__file__).parent / "propose_corpus"
LABELS = sorted(CORPUS.glob("*.yaml"))


def _tag_columns(proposal: Proposal) -> list[str]:
    tags = proposal.source.get("tags")
    if proposal.source.get("preset") == "focus" and tags is None:
        return ["Tags"]  # the preset reads FOCUS's Tags column
    if not tags:
        return []
    return sorted(tags.get("columns", {}).values()) or [tags["column"]]


def _verdicts(label: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """Each labelled key → (right, what the assistant said)."""
    total = Decimal(label["total"]) if "total" in label else None
    try:
        proposal, _ = propose((CORPUS / label["file"]).resolve(), "corpus", "main", total)
    except NotCharges as refusal:
        said = f"refused: {refusal}"
        right = "refuse" in label and label["refuse"] in str(refusal)
        return {"cost/cost": (right, said), "not charges": (right, said)}
    if "refuse" in label:
        return {
            "cost/cost": (False, f"proposed {proposal.cost_column}"),
            "not charges": (False, "proposed a mapping"),
        }
    out: dict[str, tuple[bool, str]] = {"not charges": (True, "mapped")}
    for cbf, expected in label["expect"].items():
        if cbf == "preset":
            said = proposal.source.get("preset")
            out[cbf] = (said == expected, str(said))
        elif cbf == "tags":
            said = _tag_columns(proposal)
            out[cbf] = (said == sorted(expected), str(said))
        elif isinstance(expected, dict):  # the user must be asked to choose between two
            choice = proposal.choice(cbf)
            pair = {choice.chosen.column, choice.runner_up.column} if choice.runner_up else set()
            said = f"{sorted(pair)} close={choice.close}"
            out[cbf] = (choice.close and pair == set(expected["choose"]), said)
        else:
            said = proposal.proposed(cbf)
            choice = proposal.choice(cbf)
            asked = choice is not None and choice.close
            out[cbf] = (said == expected and not asked, f"{said}{' (asked)' if asked else ''}")
    rows = [r.row for r in proposal.summary_rows]
    out["summary rows"] = (rows == label.get("summary_rows", []), str(rows))
    return out


def test_the_assistant_proposes_the_hand_written_mapping_of_every_corpus_file() -> None:
    assert len(LABELS) >= 30, "the corpus is missing"
    right: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    wrong = []
    for path in LABELS:
        label = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key, (ok, said) in _verdicts(label).items():
            seen[key] += 1
            right[key] += ok
            if not ok:
                wrong.append(
                    f"{path.name}: {key}: expected {label.get('expect', {}).get(key, label.get(key))!r}, got {said}"
                )
    print(f"\nMapping assistant on {len(LABELS)} labelled exports (right / labelled):")
    for key in sorted(seen, key=lambda k: (k != "cost/cost", k)):
        print(f"  {key:20} {right[key]:3} / {seen[key]:3}  {100 * right[key] / seen[key]:5.1f} %")
    assert right["cost/cost"] == seen["cost/cost"], "\n".join(wrong)
    assert not wrong, "\n".join(wrong)
