"""The catalogue of CloudZero Common Bill Format (CBF) columns."""

import re

USAGE_START = "time/usage_start"
USAGE_END = "time/usage_end"
COST = "cost/cost"
LINE_ITEM_TYPE = "lineitem/type"
RESOURCE_ID = "resource/id"
TAG_PREFIX = "resource/tag:"

ROWS_PER_MONTH = 1_000_000  # CloudZero's published limit per connection and month (configurable)

REQUIRED_COLUMNS: tuple[str, ...] = (USAGE_START, COST)

COST_COLUMNS: tuple[str, ...] = (
    COST,
    "cost/discounted_cost",
    "cost/amortized_cost",
    "cost/discounted_amortized_cost",
    "cost/on_demand_cost",
)
DECIMAL_COLUMNS: tuple[str, ...] = (*COST_COLUMNS, "usage/amount")

# The Kubernetes columns CloudZero documents: the CBF docs' column table (Kubernetes Cluster,
# Namespace, Deployment, Labels) and the row schema of the API reference (DESIGN.md §3) list
# these four and no others, and a body with another (`k8s/pod`) is refused.
K8S_COLUMNS: tuple[str, ...] = ("k8s/cluster", "k8s/namespace", "k8s/deployment", "k8s/labels")

KNOWN_COLUMNS: frozenset[str] = frozenset(
    {
        USAGE_START,
        USAGE_END,
        *COST_COLUMNS,
        LINE_ITEM_TYPE,
        "lineitem/id",
        "lineitem/description",
        "lineitem/cloud_provider",
        RESOURCE_ID,
        "resource/service",
        "resource/account",
        "resource/region",
        "resource/usage_family",
        "usage/amount",
        "usage/units",
        "action/operation",
        "action/usage_type",
        "bill/invoice_id",
        *K8S_COLUMNS,
    }
)

LINE_ITEM_TYPES: frozenset[str] = frozenset(
    {
        "Usage",
        "Tax",
        "Support",
        "Purchase",
        "CommittedUsePurchase",
        "Discount",
        "Credit",
        "Fee",
        "Adjustment",
        "CommittedUseVacancy",
        "CommittedUseRecurringFee",
    }
)

TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:/=+\-@]+$")


def is_cbf_column(name: str) -> bool:
    """True for a column CloudZero accepts: a catalogue column (the four documented `k8s/`
    columns among them) or a tag."""
    if name in KNOWN_COLUMNS:
        return True
    if name.startswith(TAG_PREFIX):
        return bool(TAG_KEY_PATTERN.match(name[len(TAG_PREFIX) :]))
    return False
