"""Ready-made mappings, chosen with `preset:` on a source.

A preset is written exactly as a user would write the source's keys in anycost.yaml; the
user's own keys win, and a column set to `null` under `columns` is left out.
"""

from typing import Any

# FOCUS 1.0 to 1.3 (FinOps Open Cost and Usage Specification) → CBF.
# Optional columns are skipped when an export does not have them (FOCUS versions and
# providers differ in which columns they fill).
FOCUS: dict[str, Any] = {
    "time_format": ["iso", "M/D/YY", "M/D/YYYY"],
    "null_values": ["NULL", "null", "(null)"],  # (null): in the specification's own scenario files
    "columns": {
        "time/usage_start": {"column": "ChargePeriodStart"},
        "time/usage_end": {"column": "ChargePeriodEnd", "optional": True},
        "cost/cost": {"column": "BilledCost"},
        "cost/discounted_cost": {"column": "BilledCost"},
        "cost/amortized_cost": {"column": "EffectiveCost", "optional": True},
        "cost/discounted_amortized_cost": {"column": "EffectiveCost", "optional": True},
        "cost/on_demand_cost": {"column": "ListCost", "optional": True},
        "lineitem/type": {
            "charge_category": "ChargeCategory",
            "commitment_id": "CommitmentDiscountId",
            "commitment_status": "CommitmentDiscountStatus",
        },
        "lineitem/description": {"column": "ChargeDescription", "optional": True},
        "lineitem/cloud_provider": {"column": "ProviderName", "optional": True},
        "resource/id": {"column": "ResourceId", "optional": True},
        "resource/service": {"column": "ServiceName", "optional": True},
        "resource/account": {"column": "SubAccountId", "optional": True},
        "resource/region": {
            "column": "RegionId",
            "optional": True,
            "map": {"global": "no-region", "Global": "no-region"},
            "unmapped": "keep",
        },
        "resource/usage_family": {"column": "ServiceCategory", "optional": True},
        "action/usage_type": {"column": ["SkuMeter", "SkuId"], "optional": True},
        "usage/amount": {"column": "ConsumedQuantity", "optional": True},
        "usage/units": {"column": "ConsumedUnit", "optional": True},
        "bill/invoice_id": {"column": "InvoiceId", "optional": True},
    },
    # FOCUS 1.3 names the seller ServiceProviderName (ProviderName before); InvoiceIssuerName
    # is whoever invoices the charge (a cloud marketplace for a SaaS bought through it).
    "issuer_column": ["InvoiceIssuerName", "InvoiceIssuer"],
    "provider_column": ["ServiceProviderName", "ProviderName"],
    "tags": {
        "column": "Tags",
        "format": "json",
        "optional": True,
        # Once a month has tags CloudZero needs a resource id on every row: rows without one
        # (credits, account-level lines) are filed under their sub-account.
        "missing_resource_id": "account-{SubAccountId}",
    },
    # A correction to an invoiced (closed) period: ChargeClass "Correction", billed in a later
    # open period (BillingPeriodStart), incurred when ChargePeriodStart says. Corrections inside
    # an open period keep ChargeClass null: they are ordinary rows. `policy` stays restate.
    "corrections": {
        "detect": {"column": "ChargeClass", "values": ["Correction"]},
        "billed_month_column": "BillingPeriodStart",
    },
}

PRESETS: dict[str, dict[str, Any]] = {"focus": FOCUS}


def apply_preset(source: dict[str, Any]) -> dict[str, Any]:
    """The source's keys over its preset's: `columns` merge column by column and `corrections`
    key by key (`corrections: {policy: book_forward}` keeps the preset's detection); others
    replace."""
    name = source.get("preset")
    if name is None:
        return source
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset {name!r} is not known; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    merged = {**preset, **source}
    columns = {**preset.get("columns", {}), **(source.get("columns") or {})}
    merged["columns"] = {k: v for k, v in columns.items() if v is not None}
    if isinstance(source.get("corrections"), dict) and "corrections" in preset:
        merged["corrections"] = {**preset["corrections"], **source["corrections"]}
    return merged
