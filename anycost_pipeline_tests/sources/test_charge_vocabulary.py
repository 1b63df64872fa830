"""Vendor charge words read through the built-in vocabulary are never silent: the README lists
the vocabulary, and the `cbf/<source>` metadata shows which source value became which type."""

import re
from pathlib import Path

from anycost_pipeline.cbf.charges import CHARGE_TYPES
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import (
    failure_message,
    materialised,
    sent_rows,
    use_files_source,
)

README = Path(__file__).resolve().parents[2] / "README.md"

EXPORT = (
    "date,service,kind,cost\n"
    "2024-08-01,Compute,usage,10.00\n"
    "2024-08-01,Licences,Subscription,99.00\n"
    "2024-08-02,Licences,Subscription,1.00\n"
    "2024-08-02,Compute,Refund,-5.00\n"
    "2024-08-03,Compute,VAT,2.10\n"
    "2024-08-03,Compute,Usage,1\n"
    "2024-08-04,Support,Support Fee,7\n"
    "2024-08-04,Compute,,3\n"
)


def test_the_cbf_metadata_says_which_source_value_became_which_type(project: Project) -> None:
    use_files_source(
        project,
        "vendor",
        {"charges.csv": EXPORT},
        columns={
            "time/usage_start": "date",
            "cost/cost": "cost",
            "resource/service": "service",
            "lineitem/type": "kind",
        },
    )
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert result.success, failure_message(result)
    types = {r["cost/cost"]: r.get("lineitem/type") for r in sent_rows(project, "2024-08")}
    assert types["99.00"] == "Purchase" and types["-5.00"] == "Credit" and types["7"] == "Support"
    assert types["3"] is None  # an empty type is left out of the row
    note = materialised(result)["cbf/vendor"]["line_item_types"].value
    assert note.splitlines() == [
        "'Refund' → Credit (built-in vocabulary): 1 row",
        "'Subscription' → Purchase (built-in vocabulary): 2 rows",
        "'Support Fee' → Support (built-in vocabulary): 1 row",
        "'Usage' → Usage: 1 row",
        "'usage' → Usage: 1 row",
        "'VAT' → Tax (built-in vocabulary): 1 row",
        "(empty) → no type (CloudZero reads Usage): 1 row",
    ]


def test_a_value_map_is_reported_as_the_map(project: Project) -> None:
    use_files_source(
        project,
        "vendor",
        {"charges.csv": EXPORT.replace("Support Fee", "support").replace(",,3", ",usage,3")},
        columns={
            "time/usage_start": "date",
            "cost/cost": "cost",
            "resource/service": "service",
            "lineitem/type": {
                "charge_category": "kind",
                "map": {"Subscription": "Support"},
            },
        },
    )
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert result.success, failure_message(result)
    note = materialised(result)["cbf/vendor"]["line_item_types"].value
    assert "'Subscription' → Support (map): 2 rows" in note.splitlines()
    assert "'Refund' → Credit (built-in vocabulary): 1 row" in note.splitlines()


def test_the_readme_lists_the_whole_vocabulary() -> None:
    text = README.read_text()
    section = text.split("### Charge types", 1)[1].split("\n### ", 1)[0]
    listed = dict(re.findall(r"^\| `([^`]+)` \| `([A-Za-z]+)` \|$", section, re.M))
    words = {word: kind for word, kind in CHARGE_TYPES.items() if word != kind.lower()}
    assert listed == words
