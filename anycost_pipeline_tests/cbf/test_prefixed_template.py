"""An id template whose own text holds `:` or `/` is written with its service prefix in one go;
the ids are exactly those of writing the template and then encoding it (`encode_resource_id`)."""

from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.resource_ids import encode_resource_id
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame

AUG = Month(2024, 8)
TEXT = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "a", " b ", "x:y", "p/q", "Amazon S3", "é", "svc@1", "  :  "]),
    st.text(max_size=6),
)
TEMPLATES = st.sampled_from(
    [
        {"template": "{account}/{service}/{region}"},
        {"template": "{account}:{region}"},
        {"template": "arn:aws:{service}"},
        {"template": "{region}/"},
        {"template": "{account}/{not_in_the_export}", "optional": True},
    ]
)
SERVICE = st.sampled_from(
    [None, "service", {"column": "service", "map": {"a": "Mapped/A", "": "x"}, "unmapped": "keep"}]
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=12),
    template=TEMPLATES,
    service=SERVICE,
)
def test_prefixed_in_one_go_is_the_template_then_its_prefix(
    rows: list[tuple], template: dict, service: object
) -> None:
    frame = source_frame(
        date=["2024-08-01T00:00:00Z"] * len(rows),
        amount=["1"] * len(rows),
        account=[a for a, _, _ in rows],
        service=[s for _, s, _ in rows],
        region=[r for _, _, r in rows],
    )
    columns = {
        "time/usage_start": "date",
        "cost/cost": "amount",
        "resource/id": template,
        **({"resource/service": service} if service is not None else {}),
    }
    plain = run(frame, AUG, columns=columns, resource_id_encoding="none").cbf
    expected = plain.select(encode_resource_id(plain, "vendor")).to_series().to_list()
    prefixed = run(frame, AUG, columns=columns).cbf.get_column("resource/id").to_list()
    assert prefixed == expected
