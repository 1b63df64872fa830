"""Context columns (service, account, region, resource id, usage, ...) and tags, told by name;
each with the runner-up and why."""

import re
from typing import Any

import polars as pl

from anycost_pipeline.figures import counted
from anycost_pipeline.sources.propose.choices import Candidate, Choice
from anycost_pipeline.sources.propose.evidence import (
    data_columns,
    decimal_style,
    name_words,
    probe_values,
    words_of,
)

# Context columns: CBF column → names (without separators) that say it, best first.
CONTEXT = {
    "resource/service": (
        "productcode",
        "servicename",
        "servicedescription",
        "metercategory",
        "service",
        "productname",
        "product",
    ),
    "resource/account": (
        "usageaccountid",
        "subaccountid",
        "subscriptionid",
        "accountid",
        "projectid",
        "account",
        "subscription",
        "project",
        "organizationname",
        "organization",
        "tenant",
    ),
    "resource/region": ("productregion", "regionid", "regioncode", "region", "location"),
    "resource/id": (
        "resourceid",
        "resourcearn",
        "instanceid",
        "resource",
        "resourcename",
        "repositoryname",
        "repository",
        "hostname",
        "instance",
    ),
    "lineitem/id": ("lineitemid", "lineid", "recordid"),
    "lineitem/description": ("lineitemdescription", "chargedescription", "description"),
    "usage/amount": ("usageamount", "consumedquantity", "usagequantity", "quantity"),
    "usage/units": (
        "pricingunit",
        "usageunit",
        "consumedunit",
        "unitofmeasure",
        "unittype",
        "unit",
        "units",
    ),
    "resource/usage_family": ("productfamily", "usagefamily"),
    "action/operation": ("lineitemoperation", "operation"),
    "action/usage_type": ("lineitemusagetype", "usagetype", "skuid", "meter"),
    "bill/invoice_id": ("invoiceid",),
    "cost/on_demand_cost": ("publicondemandcost", "ondemandcost", "listcost"),
    "cost/amortized_cost": ("amortizedcost", "effectivecost"),
    "time/usage_end": ("usageenddate", "usageend", "periodend", "enddate", "endtime", "end"),
}
DECIMAL_CBF = ("usage/amount", "cost/on_demand_cost", "cost/amortized_cost")


def _matches(frame: pl.DataFrame, cbf: str, columns: list[str]) -> list[tuple[str, str]]:
    """The columns whose name says the CBF column, best name first, with the name matched."""
    found = []
    for name in CONTEXT[cbf]:
        for c in columns:
            words = name_words(c)
            if (
                (words == name or words.endswith(name))
                and "billingperiod" not in words
                and not words.startswith("resourcetags")
                and c not in (f for f, _ in found)
                and probe_values(frame, c).len()
            ):
                if cbf == "usage/amount" and {"per", "cost", "price", "rate"} & set(words_of(c)):
                    continue  # a price per unit, not a quantity
                if cbf in DECIMAL_CBF and decimal_style(probe_values(frame, c)) not in (
                    "plain",
                    "exponent",
                ):
                    continue
                found.append((c, name))
    if cbf == "resource/account":
        # The payer's or billing account is one for every row; the account that used it says more.
        payer = [f for f in found if words_of(f[0])[:1] in (["billing"], ["payer"], ["bill"])]
        found = [f for f in found if f not in payer] + payer
    return found


# What each context CBF column is, in a FinOps engineer's words.
_PLAIN = {
    "resource/service": "service",
    "resource/account": "account",
    "resource/region": "region",
    "resource/id": "resource",
    "lineitem/id": "line item id",
    "lineitem/description": "description",
    "usage/amount": "quantity",
    "usage/units": "unit",
    "resource/usage_family": "usage family",
    "action/operation": "operation",
    "action/usage_type": "usage type",
    "bill/invoice_id": "invoice id",
    "cost/on_demand_cost": "on-demand cost",
    "cost/amortized_cost": "amortised cost",
    "time/usage_end": "end time",
}


def _why(frame: pl.DataFrame, cbf: str, column: str, name: str) -> str:
    values = probe_values(frame, column).unique(maintain_order=True)
    shown = ", ".join(values.head(3).to_list()) + (", ..." if values.len() > 3 else "")
    return (
        f"its name ({name}) says {_PLAIN.get(cbf, cbf)}; "
        f"{counted(values.len(), 'distinct value')}: {shown}"
    )


def find_context(frame: pl.DataFrame, taken: set[str]) -> tuple[dict[str, str], list[Choice]]:
    """A source column for each context CBF column whose name says it (each column used once),
    with the runner-up and why."""
    out: dict[str, str] = {}
    choices: list[Choice] = []
    columns = [c for c in data_columns(frame) if c not in taken]
    for cbf in CONTEXT:
        found = [(c, n) for c, n in _matches(frame, cbf, columns) if c not in out.values()]
        if not found:
            continue
        out[cbf] = found[0][0]
        chosen = Candidate(found[0][0], _why(frame, cbf, *found[0]))
        runner = Candidate(found[1][0], _why(frame, cbf, *found[1])) if len(found) > 1 else None
        choices.append(Choice(cbf, chosen, runner))
    return out, choices


_TAG_PREFIXES = ("resourcetags/user:", "resourcetags/", "tags/", "tag:", "tag/", "label:")
_TAG_COLUMNS = ("tags", "labels", "resourcetags")


# Columns that are tags by their name alone: how a FinOps team splits its costs.
TAG_NAMES = (
    "team",
    "owner",
    "environment",
    "env",
    "department",
    "dept",
    "costcenter",
    "costcentre",
    "costcentername",
    "application",
    "app",
    "businessunit",
    "stage",
)


def tag_key(column: str) -> str:
    """A CloudZero tag key for a column name: `Cost Center` → `cost_center`."""
    key = re.sub(r"[^A-Za-z0-9_.:/=+\-@]+", "_", column.strip()).strip("_").lower()
    return key or "tag"


def find_tags(frame: pl.DataFrame, taken: set[str] = frozenset()) -> dict[str, Any] | None:
    """Tags: one column per tag (`resourceTags/user:team`, or a `Team`, `Owner`, `Cost Center`
    column), or one column of many (JSON or k=v)."""
    named = {}
    for column in data_columns(frame):
        lower = column.lower()
        prefix = next((p for p in _TAG_PREFIXES if lower.startswith(p)), None)
        if prefix and len(column) > len(prefix) and probe_values(frame, column).len():
            named[column[len(prefix) :]] = column
    if named:
        return {"columns": named}
    for column in data_columns(frame):
        if column not in taken and name_words(column) in TAG_NAMES:
            if probe_values(frame, column).len():
                named[tag_key(column)] = column
    if named:
        return {"columns": named}
    for column in data_columns(frame):
        if name_words(column) not in _TAG_COLUMNS:
            continue
        values = probe_values(frame, column)
        if values.len() == 0:
            continue
        if values.str.contains(r'^\s*\{?\s*"').all():
            return {"column": column, "format": "json"}
        if values.str.contains(r"^[^=;]+=[^;]*(;[^=;]+=[^;]*)*;?$").all():
            return {"column": column, "format": "pairs"}
    return None
