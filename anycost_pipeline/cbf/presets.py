"""Ready-made mappings, chosen with `preset:` on a source.

A preset is written exactly as a user would write the source's keys in anycost.yaml; the
user's own keys win, and a column set to `null` under `columns` is left out.

Vendor connectors (an API's URL, auth, pagination and mapping) are YAML files in
`anycost_pipeline/connectors/`, one per vendor, named after the preset: data, not code.
"""

from pathlib import Path
from typing import Any

import yaml

CONNECTORS = Path(__file__).resolve().parents[1] / "connectors"

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


# libyaml's parser where PyYAML was built with it: every `anycost` command reads all connector
# files, and the pure-Python parser took about 20 ms of each start for them.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _connectors() -> dict[str, dict[str, Any]]:
    return {
        path.stem: yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)  # noqa: S506 - safe
        for path in sorted(CONNECTORS.glob("*.yaml"))
    }


PRESETS: dict[str, dict[str, Any]] = {"focus": FOCUS, **_connectors()}

# Keys merged entry by entry, so a user can change one parameter, header or auth setting of a
# preset without restating the others; `null` leaves a column, parameter or header out.
_MERGED = ("columns", "params", "headers")
_MERGED_KEEPING_NULL = ("corrections", "auth")


def apply_preset(source: dict[str, Any]) -> dict[str, Any]:
    """The source's keys over its preset's: `columns`, `params` and `headers` merge entry by
    entry (`null` removes one), `corrections` and `auth` key by key
    (`corrections: {policy: book_forward}` keeps the preset's detection, `auth: {env: MY_KEY}`
    its header); others replace."""
    name = source.get("preset")
    if name is None:
        return source
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset {name!r} is not known; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    merged = {**preset, **source}
    for key in _MERGED:
        if key in preset and (source.get(key) is None or isinstance(source[key], dict)):
            entries = {**preset[key], **(source.get(key) or {})}
            merged[key] = {k: v for k, v in entries.items() if v is not None}
    for key in _MERGED_KEEPING_NULL:
        if isinstance(source.get(key), dict) and isinstance(preset.get(key), dict):
            merged[key] = {**preset[key], **source[key]}
    return merged
