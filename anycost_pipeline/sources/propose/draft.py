"""The proposal being drafted: a source's keys as they go into anycost.yaml, with a comment per
key, the evidence per CBF column and what the user must check."""

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from anycost_pipeline.cbf.columns import COST
from anycost_pipeline.cbf.presets import FOCUS
from anycost_pipeline.sources.propose.choices import Choice
from anycost_pipeline.sources.propose.summary_rows import SummaryRow

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
