"""A first mapping for a new source, proposed from one sample export: `anycost add-source`.

The sample is read exactly as the source will be (every value as text). A FOCUS export gets
`preset: focus`; any other export gets a column for each CBF column whose source column can be
told from its name and its values (times and their format, costs and their notation, charge
words, ids, tags). The proposal is then tried with the project's own mapping on the sample's
months: a column whose values the mapping refuses, and which CBF does not require, is left out
with a note saying why, so the proposal always converts the sample with its cost conserved, or
says plainly why it cannot.

Every choice comes with its evidence: for each CBF column the column chosen and the runner-up,
why, and for money each one's exact total over the sample. The billed, extended amount wins
(net over gross, total over subtotal, amount over unit price); an identifier is never money;
when the best two are alike the user is asked to choose, or `--total` (the invoice's total)
settles it. Rows that total the others are found and named; files that are not charges (a FOCUS
Contract Commitment dataset, a lookup table) are named as such instead of being mapped.

Its parts: `sample` (reading the sample), `evidence` (what a column's name and values say),
`choices` (a choice and its runner-up), `datasets` (files that are not charges),
`summary_rows`, `time_column`, `cost_column`, `charge_column` and `context_columns` (finding
each kind of column), `draft` (the proposal's record), `source_keys` (the source's keys from the
evidence), `trial` (the keys tried on the sample), `proposal` (the whole, in order) and
`yaml_text` (the commented YAML and the evidence the user reads).
"""

from anycost_pipeline.sources.propose.charge_column import charge_word, find_charge_type
from anycost_pipeline.sources.propose.choices import Candidate, Choice
from anycost_pipeline.sources.propose.context_columns import find_context, find_tags
from anycost_pipeline.sources.propose.cost_column import choose_cost, money_candidates
from anycost_pipeline.sources.propose.datasets import NotCharges
from anycost_pipeline.sources.propose.proposal import Proposal, is_focus, propose
from anycost_pipeline.sources.propose.sample import ProposalError, read_sample, sample_format
from anycost_pipeline.sources.propose.summary_rows import SummaryRow
from anycost_pipeline.sources.propose.time_column import TimeColumn, find_time
from anycost_pipeline.sources.propose.yaml_text import (
    appended,
    evidence_text,
    new_project_text,
    project_head,
    yaml_block,
)

__all__ = [
    "project_head",
    "Candidate",
    "Choice",
    "NotCharges",
    "Proposal",
    "ProposalError",
    "SummaryRow",
    "TimeColumn",
    "appended",
    "charge_word",
    "choose_cost",
    "evidence_text",
    "find_charge_type",
    "find_context",
    "find_tags",
    "find_time",
    "is_focus",
    "money_candidates",
    "new_project_text",
    "propose",
    "read_sample",
    "sample_format",
    "yaml_block",
]
