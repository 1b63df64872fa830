"""Context columns (service, account, region, resource id, usage, ...) and tags, told by name."""

from typing import Any

import polars as pl

from anycost_pipeline.sources.propose.evidence import (
    data_columns,
    decimal_style,
    name_words,
    probe_values,
)

# Context columns: CBF column → names (without separators) that say it, best first.
CONTEXT = {
    "resource/service": ("productcode", "servicename", "metercategory", "service", "product"),
    "resource/account": (
        "usageaccountid",
        "subaccountid",
        "subscriptionid",
        "accountid",
        "projectid",
        "account",
        "subscription",
        "project",
    ),
    "resource/region": ("productregion", "regionid", "regioncode", "region", "location"),
    "resource/id": ("resourceid", "resourcearn", "instanceid", "resource"),
    "lineitem/id": ("lineitemid", "lineid", "recordid"),
    "lineitem/description": ("lineitemdescription", "chargedescription", "description"),
    "usage/amount": ("usageamount", "consumedquantity", "usagequantity", "quantity"),
    "usage/units": ("pricingunit", "usageunit", "consumedunit", "unitofmeasure", "unit", "units"),
    "resource/usage_family": ("productfamily", "usagefamily"),
    "action/operation": ("lineitemoperation", "operation"),
    "action/usage_type": ("lineitemusagetype", "usagetype", "skuid", "meter"),
    "bill/invoice_id": ("invoiceid",),
    "cost/on_demand_cost": ("publicondemandcost", "ondemandcost", "listcost"),
    "cost/amortized_cost": ("amortizedcost", "effectivecost"),
    "time/usage_end": ("usageenddate", "usageend", "periodend", "enddate", "endtime", "end"),
}
DECIMAL_CBF = ("usage/amount", "cost/on_demand_cost", "cost/amortized_cost")


def find_context(frame: pl.DataFrame, taken: set[str]) -> dict[str, str]:
    """A source column for each context CBF column whose name says it (each column used once)."""
    out: dict[str, str] = {}
    columns = [c for c in data_columns(frame) if c not in taken]
    for cbf, names in CONTEXT.items():
        for name in names:
            found = [
                c
                for c in columns
                if c not in out.values()
                and (name_words(c) == name or name_words(c).endswith(name))
                and "billingperiod" not in name_words(c)
                and not name_words(c).startswith("resourcetags")
            ]
            found = [c for c in found if probe_values(frame, c).len()]
            if cbf in DECIMAL_CBF:
                found = [
                    c
                    for c in found
                    if decimal_style(probe_values(frame, c)) in ("plain", "exponent")
                ]
            if found:
                out[cbf] = found[0]
                break
    return out


_TAG_PREFIXES = ("resourcetags/user:", "resourcetags/", "tags/", "tag:", "tag/", "label:")
_TAG_COLUMNS = ("tags", "labels", "resourcetags")


def find_tags(frame: pl.DataFrame) -> dict[str, Any] | None:
    """Tags: one column per tag (`resourceTags/user:team`), or one column of many (JSON or k=v)."""
    named = {}
    for column in data_columns(frame):
        lower = column.lower()
        prefix = next((p for p in _TAG_PREFIXES if lower.startswith(p)), None)
        if prefix and len(column) > len(prefix) and probe_values(frame, column).len():
            named[column[len(prefix) :]] = column
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
