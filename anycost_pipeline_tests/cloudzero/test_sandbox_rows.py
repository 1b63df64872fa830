"""The sandbox's row rules over real HTTP: each value form the reference accepts or refuses."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from anycost_pipeline.cloudzero.sandbox import SandboxServer, start_sandbox
from anycost_pipeline_tests.cloudzero.test_sandbox_api import (
    H1,
    H2,
    KEY,
    Api,
    assert_error_400,
    body,
    row,
)

AMOUNT_COLUMNS = (
    "cost/cost",
    "cost/discounted_cost",
    "cost/amortized_cost",
    "cost/discounted_amortized_cost",
    "cost/on_demand_cost",
    "usage/amount",
)
REFUSED_DECIMALS = [
    ".5",
    "5.",
    "",
    "1e-05",
    "1E5",
    "+1",
    " 1",
    "1 ",
    "-",
    "-.5",
    "--1",
    "1.2.3",
    "1,5",
    "1_000",
    "NaN",
    "Infinity",
    "0x1F",
    "1\n",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit to Python's \d, not to the reference's
    "$1",
]
ACCEPTED_DECIMALS = ["0", "12", "007", "12.000000", "0.5", "-3.5", "-0", "1.0", "9" * 30 + ".5"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path, api_key=KEY) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Api:
    return Api(server.url)


def refused(api: Api, rows: list[dict], *fragments: str, month: str = "2024-08") -> None:
    """The body is refused whole with a 400 in the documented shape, and nothing is applied."""
    assert_error_400(api.create("conn-1", body(month, "replace_drop", rows)), *fragments)
    assert api.drops("conn-1").json() == {"billing_drops": []}


def accepted(api: Api, rows: list[dict], month: str = "2024-08") -> None:
    answer = api.create("conn-1", body(month, "replace_drop", rows))
    assert answer.status_code == 200, answer.text
    assert answer.json()["connection"]["row_count"] == len(rows)


def test_empty_usage_amount_refuses_the_whole_body(api: Api) -> None:
    answer = api.create(
        "conn-1",
        body("2024-08", "replace_drop", [row(H1, "1"), row(H2, "2", **{"usage/amount": ""})]),
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}
    assert set(answer.json()["error"]) == {"message", "type"}
    assert "data[1]: usage/amount: '' is not a decimal amount" in answer.json()["error"]["message"]
    assert api.drops("conn-1").json() == {"billing_drops": []}


@pytest.mark.parametrize("value", REFUSED_DECIMALS)
def test_each_refused_decimal_form_is_a_400(api: Api, value: str) -> None:
    refused(api, [row(H1, "1", **{"usage/amount": value})], f"usage/amount: {value!r}")
    refused(api, [row(H1, value)], f"cost/cost: {value!r}")


@pytest.mark.parametrize("column", AMOUNT_COLUMNS)
def test_every_amount_column_takes_the_amount_pattern(api: Api, column: str) -> None:
    refused(api, [{**row(H1, "1"), column: "1e-05"}], f"{column}: '1e-05'")
    refused(api, [{**row(H1, "1"), column: ""}], f"{column}: ''")
    accepted(api, [{**row(H1, "1"), column: "-12.340000"}])


@pytest.mark.parametrize("value", ACCEPTED_DECIMALS)
def test_plain_decimals_with_an_optional_minus_are_accepted(api: Api, value: str) -> None:
    accepted(api, [row(H1, value, **{"usage/amount": value})])


@pytest.mark.parametrize("value", [1, 1.5, None, True, [], {}])
@pytest.mark.parametrize("column", ["cost/cost", "usage/amount", "resource/service", "k8s/labels"])
def test_values_must_be_strings(api: Api, column: str, value: object) -> None:
    refused(api, [{**row(H1, "1"), column: value}], f"{column}: values must be strings")


def test_every_column_of_the_reference_is_accepted(api: Api) -> None:
    full = {
        "lineitem/id": "li-1",
        "lineitem/type": "Usage",
        "lineitem/description": "one hour",
        "time/usage_start": "2024-08-16T13:00:00Z",
        "time/usage_end": "2024-08-16T14:00:00Z",
        "resource/id": "svc/res-1",
        "resource/service": "svc",
        "resource/account": "acct",
        "resource/region": "no-region",
        "resource/usage_family": "compute",
        "action/operation": "Run",
        "action/usage_type": "hours",
        "action/region": "eu-west-1",
        "action/account": "payer",
        "usage/amount": "1.0",
        "usage/units": "hours",
        "cost/cost": "1.0",
        "cost/discounted_cost": "0.9",
        "cost/amortized_cost": "1.0",
        "cost/discounted_amortized_cost": "0.9",
        "cost/on_demand_cost": "1.2",
        "bill/invoice_id": "inv-1",
        "k8s/cluster": "c",
        "k8s/namespace": "n",
        "k8s/deployment": "d",
        "k8s/labels": "app=x",
        "resource/tag:team": "finops",
        "resource/tag:cost-center/eu@x=y+z.1:2_3": "1",
        "lineitem/cloud_provider": "SaaS vendor",  # the CBF docs' column table lists it
    }
    accepted(api, [full])
    assert api.month("conn-1", "2024-08").json() == {"billing_drop": [full]}


@pytest.mark.parametrize(
    "column",
    ["cost/price", "k8s/pod", "time/usage_begin", "Resource/id", "resource/tags", "tag:team", ""],
)
def test_unknown_columns_are_refused(api: Api, column: str) -> None:
    refused(api, [{**row(H1, "1"), column: "x"}], f"{column!r}: not a column")


@pytest.mark.parametrize("missing", ["time/usage_start", "cost/cost"])
def test_required_columns(api: Api, missing: str) -> None:
    rows = [{k: v for k, v in row(H1, "1").items() if k != missing}]
    refused(api, rows, f"{missing}: required")


def test_resource_id_is_required_when_a_row_has_tags(api: Api) -> None:
    refused(api, [row(H1, "1", **{"resource/tag:team": "a"})], "resource/id: required")
    refused(api, [row(H1, "1", **{"resource/tag:team": "a", "resource/id": ""})], "resource/id")
    accepted(api, [row(H1, "1", **{"resource/tag:team": "a", "resource/id": "svc/1"})])
    accepted(api, [row(H1, "1")])  # no tags, no resource/id needed


@pytest.mark.parametrize(
    ("column", "fragment"),
    [
        ("resource/tag:", "needs a key"),
        ("resource/tag:has space", "tag keys may hold"),
        ("resource/tag:naïve", "tag keys may hold"),
    ],
)
def test_tag_columns_need_a_key_of_the_documented_characters(
    api: Api, column: str, fragment: str
) -> None:
    refused(api, [row(H1, "1", **{column: "a", "resource/id": "svc/1"})], fragment)


@pytest.mark.parametrize(
    "kind",
    [
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
    ],
)
def test_each_line_item_type_is_accepted(api: Api, kind: str) -> None:
    accepted(
        api, [row(H1, "-1" if kind in ("Discount", "Credit") else "1", **{"lineitem/type": kind})]
    )


@pytest.mark.parametrize("kind", ["Refund", "usage", "", "Usage "])
def test_other_line_item_types_are_refused(api: Api, kind: str) -> None:
    refused(api, [row(H1, "1", **{"lineitem/type": kind})], f"lineitem/type: {kind!r}")


@pytest.mark.parametrize(
    "start",
    [
        "2024-08-16T13:00:00Z",
        "2024-08-16T13:27:46Z",
        "2024-08-16T13:27:46+00:00",
        "2024-08-16T13:27:46.5Z",
        "2024-08-16T13:27:46.123456789Z",
        "2024-08-16T13:27:46",  # no offset: UTC
        "2024-08-16T15:27:46+02:00",
        "2024-08-16T08:27:46-05:00",
    ],
)
def test_usage_start_takes_any_date_time_of_the_reference(api: Api, start: str) -> None:
    accepted(api, [row(start, "1", **{"time/usage_end": start})])
    assert api.month("conn-1", "2024-08").json()["billing_drop"] == [
        row(start, "1", **{"time/usage_end": start})  # held as sent
    ]


@pytest.mark.parametrize(
    "start",
    [
        "2024-08-16 13:00:00Z",
        "2024-08-16T13:00Z",
        "2024-08-16",
        "2024-08-16T25:00:00Z",
        "2024-08-16T13:60:00Z",
        "2024-02-30T00:00:00Z",
        "2024-08-16T13:00:00+0200",
        "2024-08-16T13:00:00+02",
        "2024-08-16T13:00:00z",
        "2024-08-16T13:00:00.Z",
        "2024-08-16T13:00:00+24:00",
        "1723813200",
        "",
    ],
)
def test_usage_start_and_end_outside_the_pattern_are_refused(api: Api, start: str) -> None:
    refused(api, [row(start, "1")], f"time/usage_start: {start!r}")
    refused(api, [row(H1, "1", **{"time/usage_end": start})], f"time/usage_end: {start!r}")


@pytest.mark.parametrize(
    "start",
    [
        "2024-08-01T00:00:00Z",
        "2024-08-01T00:00:00",
        "2024-08-31T23:59:59.999999Z",
        "2024-09-01T01:00:00+02:00",  # 2024-08-31T23:00:00Z
        "2024-07-31T22:00:00-02:00",  # 2024-08-01T00:00:00Z
    ],
)
def test_rows_inside_the_month_in_utc_are_accepted(api: Api, start: str) -> None:
    accepted(api, [row(start, "1")])


@pytest.mark.parametrize(
    "start",
    [
        "2024-07-31T23:59:59Z",
        "2024-09-01T00:00:00Z",
        "2024-08-01T01:00:00+02:00",  # 2024-07-31T23:00:00Z
        "2024-08-31T23:30:00-01:00",  # 2024-09-01T00:30:00Z
    ],
)
def test_rows_outside_the_month_in_utc_are_refused(api: Api, start: str) -> None:
    refused(api, [row(H1, "1"), row(start, "1")], "data[1]: time/usage_start", "outside the month")


def test_rows_are_checked_against_the_month_in_any_accepted_form(api: Api) -> None:
    refused(
        api,
        [row("2024-09-01T00:00:00Z", "1")],
        "outside the month 2024-08",
        month="2024-08-01T00:00:00.000Z",
    )
    accepted(api, [row(H1, "1")], month="2024-08-01T00:00:00+00:00")


def test_replace_hourly_replaces_the_utc_hour_a_row_starts_in(api: Api) -> None:
    api.create(
        "conn-1",
        body(
            "2024-08",
            "replace_drop",
            [
                row("2024-08-01T13:00:00Z", "1"),
                row("2024-08-01T13:59:59Z", "2"),
                row("2024-08-01T14:00:00Z", "3"),
            ],
        ),
    )
    # 15:45+02:00 is 13:45Z: it replaces the whole 13:00 UTC hour, and only that hour.
    answer = api.create(
        "conn-1", body("2024-08", "replace_hourly", [row("2024-08-01T15:45:00+02:00", "9")])
    )
    assert answer.status_code == 200
    assert api.month("conn-1", "2024-08").json()["billing_drop"] == [
        row("2024-08-01T15:45:00+02:00", "9"),
        row("2024-08-01T14:00:00Z", "3"),
    ]


def test_many_bad_rows_are_answered_with_the_first_reasons(api: Api) -> None:
    answer = api.create("conn-1", body("2024-08", "replace_drop", [row(H1, "x")] * 100))
    assert_error_400(answer, "data[0]: cost/cost", "more errors not shown")
    assert "data[50]" not in answer.json()["error"]["message"]


# Hypothesis: the sandbox accepts an amount exactly when the reference's rule (widened by a
# leading minus) holds, judged by a scanner that shares no code or regex with the sandbox.

DIGITS = "0123456789"


def plain_decimal(text: str) -> bool:
    """An optional '-', one or more ASCII digits, then optionally '.' and one or more digits."""
    at = 1 if text.startswith("-") else 0
    whole = at
    while at < len(text) and text[at] in DIGITS:
        at += 1
    if at == whole:
        return False
    if at == len(text):
        return True
    if text[at] != ".":
        return False
    at += 1
    fraction = at
    while at < len(text) and text[at] in DIGITS:
        at += 1
    return at > fraction and at == len(text)


def test_the_scanner_agrees_with_the_examples() -> None:
    assert all(plain_decimal(v) for v in ACCEPTED_DECIMALS)
    assert not any(plain_decimal(v) for v in REFUSED_DECIMALS)


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with start_sandbox(tmp_path_factory.mktemp("hypothesis"), api_key=KEY) as running:
        yield Api(running.url)


decimal_like = st.one_of(
    st.text(alphabet="0123456789-.+eE ,\n\u0661\u00b2", max_size=10),
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,4})?", fullmatch=True),
    st.from_regex(r"-?\d+(\.\d+)?", fullmatch=True),  # \d here may yield non-ASCII digits
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers().map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=decimal_like)
def test_amounts_are_accepted_exactly_when_they_are_plain_decimals(
    shared_api: Api, value: str
) -> None:
    answer = shared_api.validate(
        body("2024-08", "replace_drop", [row(H1, "1", **{"usage/amount": value})])
    )
    assert answer.status_code == 200
    verdict = answer.json()["connection"]
    assert verdict["is_valid"] is plain_decimal(value), (value, verdict["errors"])
