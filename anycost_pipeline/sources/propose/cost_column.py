"""The billed-cost column: a name that says cost (and not rate, list or amortised cost), and a
number on every row."""

import polars as pl

from anycost_pipeline.sources.propose.evidence import (
    data_columns,
    decimal_style,
    name_words,
    probe_values,
)
from anycost_pipeline.sources.propose.sample import ProposalError

_COST_NAMES = {
    "unblendedcost": 9,
    "billedcost": 9,
    "costinbillingcurrency": 8,
    "cost": 6,
    "amount": 5,
    "charge": 4,
    "total": 3,
    "price": 1,
}
_NOT_COST = (
    "rate",
    "unitprice",
    "ondemand",
    "listcost",
    "list",
    "quantity",
    "usageamount",
    "amortized",
    "effective",
    "contracted",
    "blendedcost",
    "normalized",
    "upfront",
    "recurring",
    "commitment",
    "reservation",
    "savingsplan",
    "usd",
    "pricingcurrency",
)


def _cost_rank(column: str) -> int | None:
    words = name_words(column)
    best = max((score for name, score in _COST_NAMES.items() if name in words), default=None)
    if best is None:
        return None
    penalty = sum(1 for w in _NOT_COST if w in words and not words.endswith("unblendedcost"))
    return best - 4 * penalty


def find_cost(frame: pl.DataFrame) -> tuple[str, str]:
    """The billed cost column and its decimal style."""
    candidates = []
    for index, column in enumerate(data_columns(frame)):
        rank = _cost_rank(column)
        if rank is None or rank <= 0:
            continue
        style = decimal_style(probe_values(frame, column))
        if style is not None:
            candidates.append((-rank, index, column, style))
    if not candidates:
        raise ProposalError(
            "no column reads as the billed cost (a name such as cost, amount or billed_cost, "
            "with a number on every row); map cost/cost by hand"
        )
    _, _, column, style = min(candidates)
    return column, style
