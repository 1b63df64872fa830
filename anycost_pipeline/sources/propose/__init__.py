"""A first mapping for a new source, proposed from one sample export: `anycost add-source`.

The sample is read exactly as the source will be (every value as text). A FOCUS export gets
`preset: focus`; any other export gets a column for each CBF column whose source column can be
told from its name and its values (times and their format, costs and their notation, charge
words, ids, tags). The proposal is then tried with the project's own mapping on the sample's
months: a column whose values the mapping refuses, and which CBF does not require, is left out
with a note saying why, so the proposal always converts the sample with its cost conserved, or
says plainly why it cannot.

Its parts: `sample` (reading the sample), `evidence` (what a column's name and values say),
`time_column`, `cost_column`, `charge_column` and `context_columns` (finding each kind of
column), `proposal` (the source's keys, tried on the sample) and `yaml_text` (the commented
YAML the user reads).
"""

from anycost_pipeline.sources.propose.charge_column import charge_word, find_charge_type
from anycost_pipeline.sources.propose.context_columns import find_context, find_tags
from anycost_pipeline.sources.propose.cost_column import find_cost
from anycost_pipeline.sources.propose.proposal import Proposal, is_focus, propose
from anycost_pipeline.sources.propose.sample import ProposalError, read_sample, sample_format
from anycost_pipeline.sources.propose.time_column import TimeColumn, find_time
from anycost_pipeline.sources.propose.yaml_text import appended, new_project_text, yaml_block

__all__ = [
    "Proposal",
    "ProposalError",
    "TimeColumn",
    "appended",
    "charge_word",
    "find_charge_type",
    "find_context",
    "find_cost",
    "find_tags",
    "find_time",
    "is_focus",
    "new_project_text",
    "propose",
    "read_sample",
    "sample_format",
    "yaml_block",
]
