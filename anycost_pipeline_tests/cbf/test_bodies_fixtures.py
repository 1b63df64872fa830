"""The request bodies of a set of months are byte for byte those kept in
`fixtures/bodies/expected.json` (written by `body_months.py` from the writer that came before
this one): values needing escapes, hours larger than a body, rows out of order, a null hour,
absent values, every operation and several body sizes."""

import hashlib
import json

import pytest

from anycost_pipeline.cbf.bodies import content_hash, month_bodies, plan_bodies
from anycost_pipeline_tests.cbf.body_months import CASES, FIXTURE, MONTH, MONTHS, case_id

EXPECTED = json.loads(FIXTURE.read_text())


@pytest.mark.parametrize(("name", "operation", "target"), CASES, ids=[case_id(*c) for c in CASES])
def test_bodies_are_byte_for_byte_the_kept_ones(name: str, operation: str, target: int) -> None:
    expected = EXPECTED[case_id(name, operation, target)]
    planned = plan_bodies(MONTHS[name](), MONTH, operation=operation, target_bytes=target)
    assert len(planned) == len(expected["bodies"])
    for body, kept, plan in zip(planned, expected["bodies"], planned.planned):
        if "payload" in kept:
            assert body.payload.decode("utf-8") == kept["payload"]
        assert hashlib.sha256(body.payload).hexdigest() == kept["sha256"] == plan.sha256
        assert len(body.payload) == kept["bytes"] == plan.bytes
        assert (body.operation, body.rows, body.first_hour, body.last_hour) == (
            kept["operation"],
            kept["rows"],
            kept["first_hour"],
            kept["last_hour"],
        )
    assert planned.content_hash == expected["content_hash"]
    everything = month_bodies(MONTHS[name](), MONTH, operation=operation, target_bytes=target)
    assert content_hash(everything) == expected["content_hash"]


def test_the_kept_months_cover_what_they_claim() -> None:
    """The fixture is worth keeping only if it holds the hard cases."""
    by_case = {case: kept["bodies"] for case, kept in EXPECTED.items()}
    (whole,) = month_bodies(MONTHS["escapes"](), MONTH)  # kept as its SHA-256
    for escaped in ('\\"', "\\\\", "\\n", "\\t", "\\r", "\\u0001", "😀", "\u2028"):
        assert escaped in whole.payload.decode("utf-8")
    assert any(b["operation"] == "sum" for b in by_case["big_hours-replace_drop-2000"])
    assert any(b["first_hour"] == "" for b in by_case["sparse-replace_drop-700"])
    assert len(by_case["large-replace_drop-4500000"]) > 1
