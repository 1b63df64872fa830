"""Tags: named columns, JSON and key=value columns, key sanitising, collisions, resource ids."""

import polars as pl
import pytest

from anycost_pipeline.cbf.errors import BadSourceData, MappingError
from anycost_pipeline.cbf.resource_ids import encode_resource_id
from anycost_pipeline.cbf.tags import sanitise_key
from anycost_pipeline.cbf.validation import row_problems
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUG = Month(2024, 8)
COLUMNS = {
    "time/usage_start": "date",
    "cost/cost": "amount",
    "resource/id": "id",
    "resource/service": "service",
}


def _rows(frame: pl.DataFrame, **options: object) -> list[dict]:
    cbf = run(frame, AUG, columns=COLUMNS, **options).cbf
    return cbf.drop("_source_file", "_source_row").to_dicts()


def test_sanitise_keeps_allowed_characters_and_replaces_the_rest() -> None:
    assert (
        sanitise_key("aws:cloudformation/stack-name=x+y@z.a_b")
        == "aws:cloudformation/stack-name=x+y@z.a_b"
    )
    assert sanitise_key("Cost department") == "Cost_department"
    assert sanitise_key(" org") == "_org"
    assert sanitise_key("Kostenstelle (€)") == "Kostenstelle____"


def test_json_tags_become_tag_columns_and_renames_are_reported() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 3,
        amount=["1", "2", "3"],
        id=["vm-1", "vm-2", "vm-3"],
        service=["EC2"] * 3,
        tags=['{"team": "data", "Cost department": "R&D"}', '{"team": "web", "size": 3}', None],
    )
    done = run(frame, AUG, columns=COLUMNS, tags={"column": "tags"})
    rows = done.cbf.select(
        "resource/tag:team", "resource/tag:Cost_department", "resource/tag:size"
    ).rows()
    assert rows == [("data", "R&D", None), ("web", None, "3"), (None, None, None)]
    assert done.notes["renamed_tag_keys"] == "'Cost department' → 'Cost_department'"
    assert row_problems(done.cbf, AUG).is_empty()


def test_pairs_and_named_columns() -> None:
    frame = source_frame(
        date=["2024-08-01"],
        amount=["1"],
        id=["vm-1"],
        service=["EC2"],
        labels=["env=prod; owner = ana"],
        cc=["42"],
    )
    row = _rows(
        frame, tags={"column": "labels", "format": "pairs", "columns": {"cost center": "cc"}}
    )[0]
    assert {k: v for k, v in row.items() if k.startswith("resource/tag:")} == {
        "resource/tag:cost_center": "42",
        "resource/tag:env": "prod",
        "resource/tag:owner": "ana",
    }


def test_keys_colliding_after_sanitising_are_an_error() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 2,
        amount=["1", "2"],
        id=["a", "b"],
        service=["S", "S"],
        tags=['{"cost center": "1"}', '{"cost_center": "2"}'],
    )
    with pytest.raises(
        MappingError, match="the tag keys 'cost center' and 'cost_center' both become 'cost_center'"
    ):
        run(frame, AUG, columns=COLUMNS, tags={"column": "tags"})


def test_unreadable_tags_are_a_bad_value() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 2,
        amount=["1", "2"],
        id=["a", "b"],
        service=["S", "S"],
        tags=['{"a": "1"}', "{not json"],
    )
    with pytest.raises(
        BadSourceData, match="row 3, column 'tags': value '{not json': not a JSON object of tags"
    ):
        run(frame, AUG, columns=COLUMNS, tags={"column": "tags"})


def test_vendor_ids_survive_cloudzeros_split() -> None:
    ids = [
        "arn:aws:s3:::my-bucket",
        "/subscriptions/123/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        "i-0abc",
    ]
    frame = source_frame(
        date=["2024-08-01"] * 3,
        amount=["1"] * 3,
        id=ids,
        service=["Amazon S3", "Virtual Machines", "EC2"],
    )
    assert [r["resource/id"] for r in _rows(frame)] == [
        "Amazon-S3/arn:aws:s3:::my-bucket",
        "Virtual-Machines//subscriptions/123/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        "i-0abc",
    ]
    assert [r["resource/id"] for r in _rows(frame, resource_id_encoding="none")] == ids


def test_the_service_prefix_is_cleaned_per_service_and_falls_back_to_the_source_name() -> None:
    ids = ["arn:a", "arn:b", "arn:c", "arn:d", "arn:e", "i-1"]
    services = ["Amazon S3", "EC2", None, "", "Amazon S3", "Amazon S3"]
    frame = source_frame(date=["2024-08-01"] * 6, amount=["1"] * 6, id=ids, service=services)
    assert [r["resource/id"] for r in _rows(frame)] == [
        "Amazon-S3/arn:a",
        "EC2/arn:b",
        "vendor/arn:c",
        "vendor/arn:d",
        "Amazon-S3/arn:e",
        "i-1",
    ]
    # Only clean services: each id is prefixed with the service exactly as it is.
    clean = source_frame(
        date=["2024-08-01"] * 2, amount=["1"] * 2, id=["arn:a", "x/y"], service=["EC2", "S3"]
    )
    assert [r["resource/id"] for r in _rows(clean)] == ["EC2/arn:a", "S3/x/y"]
    # Without a service column the source's name is the prefix.
    no_service = source_frame(date=["2024-08-01"], amount=["1"], id=["arn:a"])
    done = run(
        no_service,
        AUG,
        columns={"time/usage_start": "date", "cost/cost": "amount", "resource/id": "id"},
    )
    assert done.cbf["resource/id"].to_list() == ["vendor/arn:a"]
    # An empty service (a constant, say) also falls back, with the source's name made safe.
    cbf = pl.DataFrame({"resource/id": ["arn:a", "arn:b"], "resource/service": ["", "S3"]})
    assert cbf.select(encode_resource_id(cbf, "my source")).to_series().to_list() == [
        "my-source/arn:a",
        "S3/arn:b",
    ]


def test_tags_need_a_resource_id() -> None:
    frame = source_frame(
        date=["2024-08-01"] * 2,
        amount=["1", "2"],
        id=["vm-1", None],
        service=["S", "S"],
        account=["111", "222"],
        team=["a", "b"],
    )
    done = run(frame, AUG, columns=COLUMNS, tags={"columns": {"team": "team"}})
    assert row_problems(done.cbf, AUG).select("_source_row", "column").rows() == [
        (3, "resource/id")
    ]
    filled = run(
        frame,
        AUG,
        columns=COLUMNS,
        tags={"columns": {"team": "team"}, "missing_resource_id": "account-{account}"},
    )
    assert filled.cbf["resource/id"].to_list() == ["vm-1", "account-222"]
    assert row_problems(filled.cbf, AUG).is_empty()
    # Plain text without a field (it crashed the month with an unexplained step error).
    plain = run(
        frame,
        AUG,
        columns=COLUMNS,
        tags={"columns": {"team": "team"}, "missing_resource_id": "unattributed"},
    )
    assert plain.cbf["resource/id"].to_list() == ["vm-1", "unattributed"]
    assert row_problems(plain.cbf, AUG).is_empty()


def test_validation_flags_a_bad_tag_key_written_by_hand() -> None:
    frame = source_frame(date=["2024-08-01"], amount=["1"], id=["vm-1"], service=["S"])
    cbf = run(frame, AUG, columns=COLUMNS).cbf.with_columns(
        pl.lit("x").alias("resource/tag:bad key")
    )
    assert row_problems(cbf, AUG).select("column", "reason").rows() == [
        ("resource/tag:bad key", "tag key may hold only letters, digits and _ . : / = + - @"),
    ]
