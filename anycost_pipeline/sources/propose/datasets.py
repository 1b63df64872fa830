"""Files that are not charges: a FOCUS Contract Commitment dataset (the commitments a contract
holds, not what was billed) or a lookup table (no dates, no amounts). Sent as costs, either
would be money CloudZero never billed, so the assistant says what the file is instead."""

import polars as pl

from anycost_pipeline.sources.propose.evidence import data_columns, name_words
from anycost_pipeline.sources.propose.sample import ProposalError


class NotCharges(ProposalError):
    """The sample is not a file of charges; the message says what it is and what to export."""


def _commitment_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in data_columns(frame) if name_words(c).startswith("contractcommitment")]


def refuse_if_not_charges(frame: pl.DataFrame) -> None:
    """Raise NotCharges when the sample is a FOCUS Contract Commitment dataset."""
    commitments = _commitment_columns(frame)
    if commitments and "BilledCost" not in frame.columns:
        raise NotCharges(
            f"this is a FOCUS Contract Commitment dataset ({', '.join(commitments[:3])}, ...): "
            "it lists what a contract commits you to, not what was billed, so it has no "
            "charges to send. Export the FOCUS cost and usage dataset (with BilledCost and "
            "ChargePeriodStart) and run add-source on that"
        )


def refuse_lookup_table(frame: pl.DataFrame, why: str) -> None:
    """Raise NotCharges when no column is a time and none is money: a table, not a bill."""
    raise NotCharges(
        f"no column reads as a date and none as an amount ({why}): this looks like a lookup "
        f"table ({', '.join(data_columns(frame)[:4])}, ...), not an export of charges. Run "
        "add-source on a file with a date and a cost on every row"
    )
