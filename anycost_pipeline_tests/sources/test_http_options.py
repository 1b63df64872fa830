"""Declarative options of the http kind that vendor connectors need: unix-second month
placeholders, repeated parameters, records nested in buckets, a `more` flag beside a cursor that
ends as an explicit null, `base_url`, exact numbers, a refused key named by its variable,
amounts in cents scaled exactly (`scale`), the source's own placeholders, Basic auth from two
variables and a rate-limit reset header, more secret headers from their own variables
(`auth.extra_headers`), records chosen by a field (`where`), running totals turned into
each record's own amount (`cumulative`), HTTP Digest auth (`auth.scheme: digest`) and records
read from the document each listed record points to (`follow`)."""

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.months import Month
from anycost_pipeline.sources.http import SourceHttpError, read_month
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api
from anycost_pipeline_tests.sources.helpers import http_source, month_of

AUGUST_START = 1722470400  # 2024-08-01T00:00:00Z
SEPTEMBER_START = 1725148800  # 2024-09-01T00:00:00Z

NESTED = {"records": {"path": "data", "each": "results", "parent_fields": {"day": "start_time"}}}
NESTED_COLUMNS = {"time/usage_start": "day", "cost/cost": "amount.value"}


def _bucket(start: int, *values: str) -> dict:
    return {
        "object": "bucket",
        "start_time": start,
        "end_time": start + 86400,
        "results": [{"amount": {"value": v, "currency": "usd"}, "line_item": "x"} for v in values],
    }


def test_unix_second_placeholders_and_repeated_parameters() -> None:
    with fake_api(lambda r: Answer(body=[])) as api:
        source = http_source(
            api.url + "/costs?from={start_unix}",
            params={"start": "{start_unix}", "end": "{end_unix}", "group_by[]": ["a", "b"]},
        )
        read_month("vendor", source, Month(2024, 8))
    (request,) = api.requests
    assert request.query_lists == {
        "from": [str(AUGUST_START)],
        "start": [str(AUGUST_START)],
        "end": [str(SEPTEMBER_START)],
        "group_by[]": ["a", "b"],
    }


def test_records_nested_in_buckets_carry_their_buckets_start() -> None:
    body = {
        "data": [
            _bucket(AUGUST_START, "1.5", "2.25"),
            _bucket(AUGUST_START + 86400),  # a day without costs
            _bucket(AUGUST_START + 2 * 86400, "3"),
        ]
    }
    with fake_api(lambda r: Answer(body=body)) as api:
        frame = read_month(
            "vendor",
            http_source(api.url + "/costs", columns=NESTED_COLUMNS, **NESTED),
            Month(2024, 8),
        )
    assert frame.get_column("amount.value").to_list() == ["1.5", "2.25", "3"]
    assert frame.get_column("day").to_list() == [
        str(AUGUST_START),
        str(AUGUST_START),
        str(AUGUST_START + 2 * 86400),
    ]
    assert "start_time" not in frame.columns and "results" not in frame.columns


def test_nested_records_list_form_and_clear_errors() -> None:
    body = {"data": [_bucket(AUGUST_START, "1")]}
    with fake_api(lambda r: Answer(body=body)) as api:
        # A list copies under the parent's own names.
        source = http_source(
            api.url + "/costs",
            columns={"time/usage_start": "start_time", "cost/cost": "amount.value"},
            records={"path": "data", "each": "results", "parent_fields": ["start_time"]},
        )
        frame = read_month("vendor", source, Month(2024, 8))
        assert frame.get_column("start_time").to_list() == [str(AUGUST_START)]
        # A parent field the records already have is refused, not overwritten.
        clash = http_source(
            api.url + "/costs",
            columns=NESTED_COLUMNS,
            records={
                "path": "data",
                "each": "results",
                "parent_fields": {"line_item": "start_time"},
            },
        )
        with pytest.raises(SourceHttpError, match=r"already has line_item.*another name"):
            read_month("vendor", clash, Month(2024, 8))
        wrong = http_source(
            api.url + "/costs",
            columns=NESTED_COLUMNS,
            records={"path": "data", "each": "rows", "parent_fields": ["start_time"]},
        )
        with pytest.raises(SourceHttpError, match=r"no key 'rows' on the way to data\[1\]\.rows"):
            read_month("vendor", wrong, Month(2024, 8))


PAGES = {
    None: {"data": [_bucket(AUGUST_START, "1")], "has_more": True, "next_page": "p2"},
    "p2": {"data": [_bucket(AUGUST_START + 86400, "2")], "has_more": True, "next_page": "p3"},
    "p3": {"data": [_bucket(AUGUST_START + 2 * 86400, "4")], "has_more": False, "next_page": None},
}


def _paged(request: Request) -> Answer:
    # Written by hand so the last page ends with a literal `"next_page": null`.
    return Answer(raw=json.dumps(PAGES[request.query.get("page")]))


def test_a_cursor_that_ends_as_an_explicit_null_stops_with_or_without_more() -> None:
    for more in ({}, {"more": "has_more"}):
        with fake_api(_paged) as api:
            source = http_source(
                api.url + "/costs",
                columns=NESTED_COLUMNS,
                pagination={"type": "cursor", "cursor": "next_page", "param": "page", **more},
                **NESTED,
            )
            frame = read_month("vendor", source, Month(2024, 8))
        assert [r.query.get("page") for r in api.requests] == [None, "p2", "p3"]
        assert frame.get_column("amount.value").to_list() == ["1", "2", "4"]


def test_more_false_stops_even_with_a_cursor_and_more_true_without_one_fails() -> None:
    stale = {"data": [_bucket(AUGUST_START, "1")], "has_more": False, "next_page": "again"}
    pagination = {"type": "cursor", "cursor": "next_page", "param": "page", "more": "has_more"}
    with fake_api(lambda r: Answer(body=stale)) as api:
        source = http_source(
            api.url + "/costs", columns=NESTED_COLUMNS, pagination=pagination, **NESTED
        )
        read_month("vendor", source, Month(2024, 8))
    assert len(api.requests) == 1
    broken = {"data": [], "has_more": True, "next_page": None}
    with fake_api(lambda r: Answer(body=broken)) as api:
        source = http_source(
            api.url + "/costs", columns=NESTED_COLUMNS, pagination=pagination, **NESTED
        )
        with pytest.raises(SourceHttpError, match="has_more says more pages follow.*incomplete"):
            read_month("vendor", source, Month(2024, 8))


def test_amounts_as_json_numbers_or_strings_are_read_as_written() -> None:
    raw = (
        '{"data": [{"start_time": 1722470400, "results": ['
        '{"amount": {"value": 0.1}}, {"amount": {"value": "0.1"}}, '
        '{"amount": {"value": 1.5e-07}}, {"amount": {"value": 12345678901234567890.123456789}}'
        "]}]}"
    )
    with fake_api(lambda r: Answer(raw=raw)) as api:
        frame = read_month(
            "vendor",
            http_source(api.url + "/costs", columns=NESTED_COLUMNS, **NESTED),
            Month(2024, 8),
        )
    assert frame.get_column("amount.value").to_list() == [
        "0.1",
        "0.1",
        "1.5e-07",
        "12345678901234567890.123456789",
    ]


def test_a_relative_url_is_appended_to_base_url() -> None:
    with fake_api(lambda r: Answer(body=[])) as api:
        read_month(
            "vendor",
            http_source("/v1/costs", base_url=api.url + "/proxy/"),
            Month(2024, 8),
        )
        # An absolute url is used as it is.
        read_month(
            "vendor",
            http_source(api.url + "/direct", base_url="https://elsewhere.example"),
            Month(2024, 8),
        )
    assert [r.path for r in api.requests] == ["/proxy/v1/costs", "/direct"]
    with pytest.raises(ValueError, match="url '/v1/costs' is relative"):
        http_source("/v1/costs")
    with pytest.raises(ValueError, match="base_url 'api.vendor.example' must be an absolute URL"):
        http_source("/v1/costs", base_url="api.vendor.example")


def test_a_refused_key_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDOR_KEY", "wrong-key")
    auth = {"env": "VENDOR_KEY", "prefix": "Bearer ", "hint": "an admin key is needed"}
    for status, said in (
        (401, "refused the key in environment variable VENDOR_KEY"),
        (403, "may lack a scope"),
    ):
        answer = Answer(status=status, body={"error": {"message": "Incorrect API key wrong-key"}})
        with fake_api(lambda r: answer) as api:
            with pytest.raises(SourceHttpError) as failure:
                read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
        message = str(failure.value)
        assert f"answered {status}" in message and said in message
        assert "an admin key is needed" in message and "wrong-key" not in message
        assert len(api.requests) == 1  # not retried


def test_a_retry_after_beyond_the_cap_fails_the_month_instead_of_waiting() -> None:
    answers = [Answer(status=429, body={"error": "slow down"}, headers={"Retry-After": "3600"})]
    with fake_api(lambda r: answers[0]) as api:
        started = time.monotonic()
        with pytest.raises(
            SourceHttpError,
            match=r"asked to wait 3600 s \(Retry-After\), more than retry_after_cap_seconds \(2\)",
        ):
            read_month(
                "vendor",
                http_source(api.url + "/costs", retry_after_cap_seconds=2),
                Month(2024, 8),
            )
    assert time.monotonic() - started < 30 and len(api.requests) == 1
    # Within the cap the wait is honoured (the stand-in tests of presets measure it).
    answers[:] = [Answer(status=429, headers={"Retry-After": "1"}, body={}), Answer(body=[])]
    with fake_api(lambda r: answers.pop(0)) as api:
        read_month(
            "vendor", http_source(api.url + "/costs", retry_after_cap_seconds=2), Month(2024, 8)
        )
    assert len(api.requests) == 2


def test_a_scaled_cost_column_turns_cents_into_dollars_exactly() -> None:
    """`scale` multiplies a decimal column exactly (Anthropic states cents with fractional
    cents); the cost_conserved sum reads the source the same way, so the check agrees."""
    raw = (
        '{"data": [{"start_time": "2024-08-01T00:00:00Z", "results": ['
        '{"amount": {"value": "123.78912"}}, {"amount": {"value": "-250"}}, '
        '{"amount": {"value": 0.00001}}, {"amount": {"value": "0"}}'
        "]}]}"
    )
    columns = {
        "time/usage_start": "day",
        "cost/cost": {"column": "amount.value", "scale": "0.01"},
    }
    with fake_api(lambda r: Answer(raw=raw)) as api:
        source = http_source(api.url + "/costs", columns=columns, **NESTED)
        frame = read_month("vendor", source, Month(2024, 8))
    rows = month_of(frame, "2024-08", "day")
    conversion = convert(rows, "vendor", source.mapping, Month(2024, 8))
    assert conversion.cbf.get_column("cost/cost").to_list() == [
        "1.2378912",
        "-2.50",
        "0.0000001",
        "0.00",
    ]
    total, unreadable = source_cost(rows, source.mapping, Month(2024, 8))
    assert total == Decimal("-1.2621087") and unreadable == 0
    assert source.cost_stated == "`amount.value` × 0.01"


def test_scale_is_a_positive_plain_decimal_on_a_decimal_column() -> None:
    for bad in ("0", "-0.01", "1e-2", "cents", 0.01):
        with pytest.raises(ValueError, match="scale"):
            http_source("https://api.vendor.example/costs", columns=_scaled_cost(bad))
    with pytest.raises(ValueError, match="`scale` applies only to the decimal columns"):
        http_source(
            "https://api.vendor.example/costs",
            columns={
                "time/usage_start": "date",
                "cost/cost": "cost",
                "resource/service": {"column": "service", "scale": "0.01"},
            },
        )


def _scaled_cost(scale: object) -> dict:
    return {"time/usage_start": "date", "cost/cost": {"column": "cost", "scale": scale}}


def test_year_and_month_number_placeholders_and_the_sources_own_placeholders() -> None:
    with fake_api(lambda r: Answer(body=[])) as api:
        source = http_source(
            "/orgs/{org}/usage",
            base_url=api.url,
            placeholders={"org": "Acme Corp", "plan": "team"},
            params={"year": "{year}", "month": "{month_number}", "plan": "{plan}"},
        )
        read_month("vendor", source, Month(2024, 8))
    (request,) = api.requests
    assert request.path == "/orgs/Acme%20Corp/usage"  # quoted in the path
    assert request.query_lists == {"year": ["2024"], "month": ["8"], "plan": ["team"]}
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{org\}.*placeholders: \{org"):
        http_source("https://api.vendor.example/orgs/{org}/usage")
    with pytest.raises(ValueError, match="placeholders: month is a month placeholder already"):
        http_source("https://api.vendor.example/usage", placeholders={"month": "8"})


def test_basic_auth_from_two_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDOR_KEY_ID", "key-id")
    monkeypatch.setenv("VENDOR_KEY_SECRET", "s3cret:with/colon")
    auth = {"env": "VENDOR_KEY_ID", "password_env": "VENDOR_KEY_SECRET"}
    with fake_api(lambda r: Answer(body=[])) as api:
        read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    (request,) = api.requests
    sent = request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"key-id:s3cret:with/colon").decode()
    # A refusal names both variables; an echo of either value, or of the header, is hidden.
    echo = {"detail": f"bad key-id / s3cret:with/colon / {sent}"}
    with fake_api(lambda r: Answer(status=401, body=echo)) as api:
        with pytest.raises(SourceHttpError) as failure:
            read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    message = str(failure.value)
    assert "environment variables VENDOR_KEY_ID and VENDOR_KEY_SECRET" in message
    assert "key-id" not in message and "s3cret" not in message and sent[6:] not in message
    monkeypatch.delenv("VENDOR_KEY_SECRET")
    with pytest.raises(SourceHttpError, match="environment variable VENDOR_KEY_SECRET is not set"):
        read_month("vendor", http_source("https://api.vendor.example/c", auth=auth), Month(2024, 8))
    monkeypatch.delenv("VENDOR_KEY_ID")
    with pytest.raises(
        SourceHttpError, match="environment variables VENDOR_KEY_ID and VENDOR_KEY_SECRET are not"
    ):
        read_month("vendor", http_source("https://api.vendor.example/c", auth=auth), Month(2024, 8))
    with pytest.raises(ValueError, match="`prefix` does not go with `password_env`"):
        http_source("https://api.vendor.example/c", auth={**auth, "prefix": "Bearer "})


@pytest.mark.parametrize("form", ["seconds", "epoch_seconds"])
def test_a_429_that_says_when_to_come_back_in_a_reset_header_is_waited_for(form: str) -> None:
    def reset(seconds: float) -> str:
        return str(seconds if form == "seconds" else int(time.time() + seconds) + 1)

    header = {"name": "X-RateLimit-Reset", "form": form}
    answers = [Answer(status=429, headers={"X-RateLimit-Reset": reset(1)}), Answer(body=[])]
    with fake_api(lambda r: answers.pop(0)) as api:
        started = time.monotonic()
        read_month(
            "vendor",
            http_source(api.url + "/costs", rate_limit_reset=header, backoff_seconds=0),
            Month(2024, 8),
        )
    assert len(api.requests) == 2 and time.monotonic() - started >= 0.9
    # Beyond the cap it fails, naming the header it read.
    answers[:] = [Answer(status=429, headers={"X-RateLimit-Reset": reset(3600)})]
    with fake_api(lambda r: answers[0]) as api:
        with pytest.raises(
            SourceHttpError, match=r"to wait 36\d\d(\.\d+)? s \(X-RateLimit-Reset\)"
        ):
            read_month(
                "vendor",
                http_source(api.url + "/costs", rate_limit_reset=header, retry_after_cap_seconds=2),
                Month(2024, 8),
            )


def test_more_secret_headers_each_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Datadog wants an API key and an application key, each in its own header."""
    monkeypatch.setenv("VENDOR_API_KEY", "api-key-1")
    monkeypatch.setenv("VENDOR_APP_KEY", "app-key-2")
    auth = {
        "header": "X-Api-Key",
        "env": "VENDOR_API_KEY",
        "extra_headers": {"X-App-Key": "VENDOR_APP_KEY"},
        "hint": "both keys of the parent organization",
    }
    with fake_api(lambda r: Answer(body=[])) as api:
        read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    (request,) = api.requests
    assert request.headers["X-Api-Key"] == "api-key-1"
    assert request.headers["X-App-Key"] == "app-key-2"
    echo = {"errors": ["Forbidden: api-key-1 app-key-2"]}
    with fake_api(lambda r: Answer(status=403, body=echo)) as api:
        with pytest.raises(SourceHttpError) as failure:
            read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    message = str(failure.value)
    assert "environment variables VENDOR_API_KEY and VENDOR_APP_KEY" in message
    assert "the X-Api-Key and X-App-Key headers" in message and "may lack a scope" in message
    assert "both keys of the parent organization" in message
    assert "api-key-1" not in message and "app-key-2" not in message
    # Neither header goes to another host (a redirect or a next link).
    assert http_source("https://a.example/c", auth=auth).auth.names == [  # type: ignore[union-attr]
        "VENDOR_API_KEY",
        "VENDOR_APP_KEY",
    ]
    monkeypatch.delenv("VENDOR_APP_KEY")
    with pytest.raises(
        SourceHttpError,
        match="environment variable VENDOR_APP_KEY is not set; VENDOR_API_KEY holds the value of "
        "the X-Api-Key header, VENDOR_APP_KEY that of the X-App-Key header",
    ):
        read_month("vendor", http_source("https://api.vendor.example/c", auth=auth), Month(2024, 8))
    with pytest.raises(ValueError, match="X-Api-Key is the auth header already"):
        http_source(
            "https://api.vendor.example/c",
            auth={**auth, "extra_headers": {"x-api-key": "VENDOR_APP_KEY"}},
        )


def test_extra_headers_stay_with_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDOR_API_KEY", "api-key-1")
    monkeypatch.setenv("VENDOR_APP_KEY", "app-key-2")
    auth = {
        "header": "X-Api-Key",
        "env": "VENDOR_API_KEY",
        "extra_headers": {"X-App-Key": "VENDOR_APP_KEY"},
    }
    with fake_api(lambda r: Answer(body={"items": [], "next": None})) as other:
        pages = [
            Answer(body={"items": [], "next": other.url + "/page2"}),
        ]
        with fake_api(lambda r: pages.pop(0)) as api:
            source = http_source(
                api.url + "/costs",
                auth=auth,
                records="items",
                pagination={"type": "next_link", "next": "next"},
            )
            read_month("vendor", source, Month(2024, 8))
    (followed,) = other.requests
    assert "X-Api-Key" not in followed.headers and "X-App-Key" not in followed.headers


def test_where_keeps_only_the_records_whose_field_holds_a_chosen_value() -> None:
    """A vendor's total beside its parts (Datadog's charges): only the total is kept, so it is
    never added to them; the kept records keep their place on the page as lineage."""
    raw = (
        '{"data": [{"date": "2024-08-01", "charges": ['
        '{"charge_type": "committed", "cost": 10}, {"charge_type": "on_demand", "cost": 2.5}, '
        '{"charge_type": "total", "cost": 12.5}]}, {"date": "2024-08-02", "charges": ['
        '{"charge_type": "total", "cost": 0.1}, {"charge_type": "TOTAL", "cost": 99}]}]}'
    )
    records = {"path": "data", "each": "charges", "parent_fields": ["date"]}
    with fake_api(lambda r: Answer(raw=raw)) as api:
        source = http_source(
            api.url + "/costs",
            records=records,
            where={"charge_type": "total"},
            columns={"time/usage_start": "date", "cost/cost": "cost"},
        )
        frame = read_month("vendor", source, Month(2024, 8))
    assert frame.get_column("cost").to_list() == ["12.5", "0.1"]
    assert frame.get_column("_source_row").to_list() == [3, 4]
    # A list of values keeps any of them; a record without the field fails the month.
    with fake_api(lambda r: Answer(raw=raw)) as api:
        source = http_source(
            api.url + "/costs", records=records, where={"charge_type": ["committed", "on_demand"]}
        )
        frame = read_month("vendor", source, Month(2024, 8))
    assert frame.get_column("cost").to_list() == ["10", "2.5"]
    with fake_api(lambda r: Answer(raw=raw)) as api:
        source = http_source(api.url + "/costs", records=records, where={"kind": "total"})
        with pytest.raises(SourceHttpError, match=r"record 1: has no 'kind' to choose it by"):
            read_month("vendor", source, Month(2024, 8))


def _day(day: int, product: str, cost: str) -> dict:
    return {"date": f"2024-08-{day:02d}T00:00:00+00:00", "product": product, "cost": cost}


def test_cumulative_figures_become_each_days_own_amount_exactly() -> None:
    """Month-to-date figures (Datadog's estimated cost by day): each day's own amount is its
    figure minus the day before's, per product, exactly; the month's total is the last figure."""
    running = [
        _day(1, "apm", "10.10"),
        _day(3, "logs", "0.000015"),  # logs start on the 3rd
        _day(2, "apm", "25.35"),  # out of order on the page
        _day(3, "apm", "25.35"),  # nothing on the 3rd
        _day(4, "logs", "1.5e-05"),  # unchanged, in exponent notation
        _day(4, "apm", "25.30"),  # lowered by a correction: a negative day
        _day(5, "logs", "123456789012345678901234567890.1"),  # no digit is lost
    ]
    columns = {"time/usage_start": "date", "cost/cost": "cost", "resource/service": "product"}
    with fake_api(lambda r: Answer(body={"data": running})) as api:
        source = http_source(
            api.url + "/costs",
            records="data",
            exponent="allow",
            columns=columns,
            cumulative={"columns": "cost", "by": ["product"], "order": "date"},
        )
        frame = read_month("vendor", source, Month(2024, 8))
    own = dict(
        zip(
            zip(frame.get_column("product").to_list(), frame.get_column("date").to_list()),
            frame.get_column("cost").to_list(),
        )
    )
    assert own == {
        ("apm", "2024-08-01T00:00:00+00:00"): "10.10",
        ("apm", "2024-08-02T00:00:00+00:00"): "15.25",
        ("apm", "2024-08-03T00:00:00+00:00"): "0.00",
        ("apm", "2024-08-04T00:00:00+00:00"): "-0.05",
        ("logs", "2024-08-03T00:00:00+00:00"): "0.000015",
        ("logs", "2024-08-04T00:00:00+00:00"): "0.000000",
        ("logs", "2024-08-05T00:00:00+00:00"): "123456789012345678901234567890.099985",
    }
    conversion = convert(month_of(frame, "2024-08"), "vendor", source.mapping, Month(2024, 8))
    sent = sum((Decimal(v) for v in conversion.cbf.get_column("cost/cost").to_list()), Decimal(0))
    assert sent == Decimal("25.30") + Decimal("123456789012345678901234567890.1")


def test_cumulative_resets_with_each_month_and_names_what_it_cannot_read() -> None:
    # A window reaching into July (a source away from UTC): July's last figure is July's own
    # month to date, and August starts again.
    running = [_day(1, "apm", "3"), _day(2, "apm", "5")]
    running.insert(0, {"date": "2024-07-31T00:00:00+00:00", "product": "apm", "cost": "700"})
    spec = {"columns": ["cost"], "by": "product", "order": "date"}
    with fake_api(lambda r: Answer(body=running)) as api:
        frame = read_month("vendor", http_source(api.url + "/c", cumulative=spec), Month(2024, 8))
        assert frame.get_column("cost").to_list() == ["700", "3", "2"]
        never = {**spec, "resets": "never"}
        frame = read_month("vendor", http_source(api.url + "/c", cumulative=never), Month(2024, 8))
        assert frame.get_column("cost").to_list() == ["700", "-697", "2"]
    for bad, said in (
        ([_day(1, "apm", "n/a")], r"record 1: cost 'n/a' is not a number"),
        ([_day(1, "apm", "1"), _day(1, "apm", "2")], r"two records of the same group have date"),
        ([{"date": "2024-08-01", "cost": "1"}], r"`cumulative` names 'product', which the records"),
    ):
        with fake_api(lambda r: Answer(body=bad)) as api:
            with pytest.raises(SourceHttpError, match=said):
                read_month("vendor", http_source(api.url + "/c", cumulative=spec), Month(2024, 8))


def _digest_server(user: str, password: str, body: object) -> Callable[[Request], Answer]:
    """Answers like an API with HTTP Digest auth: 401 with a challenge, then the body to a
    request whose response hash is right (MD5, qop auth)."""
    realm, nonce = "Vendor API", "n0nc3"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (HTTP Digest's own hash)

    def respond(request: Request) -> Answer:
        header = request.headers.get("Authorization", "")
        given = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}
        ha1 = md5(f"{user}:{realm}:{password}")
        ha2 = md5(f"GET:{given.get('uri', '')}")
        expected = md5(f"{ha1}:{nonce}:{given.get('nc')}:{given.get('cnonce')}:auth:{ha2}")
        if header.startswith("Digest ") and given.get("response") == expected:
            return Answer(body=body)
        challenge = f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
        return Answer(
            status=401,
            body={"detail": f"bad credentials for {given.get('username')}"},
            headers={"WWW-Authenticate": challenge},
        )

    return respond


def test_digest_auth_answers_the_apis_challenge(monkeypatch: pytest.MonkeyPatch) -> None:
    """MongoDB Atlas's API keys: the public key as user name, the private key as password,
    which never travels (only a hash of it, in answer to the API's challenge)."""
    monkeypatch.setenv("VENDOR_PUBLIC_KEY", "pubkey")
    monkeypatch.setenv("VENDOR_PRIVATE_KEY", "priv-4b1e-secret")
    auth = {
        "env": "VENDOR_PUBLIC_KEY",
        "password_env": "VENDOR_PRIVATE_KEY",
        "scheme": "digest",
        "hint": "a billing role is needed",
    }
    with fake_api(_digest_server("pubkey", "priv-4b1e-secret", [{"x": 1}])) as api:
        frame = read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    assert frame.height == 1
    challenged, answered = api.requests
    assert "Authorization" not in challenged.headers
    assert answered.headers["Authorization"].startswith('Digest username="pubkey"')
    assert all("priv-4b1e-secret" not in str(r.headers) for r in api.requests)
    # A wrong private key: the API challenges again, and the month fails naming both variables.
    with fake_api(_digest_server("pubkey", "another", [])) as api:
        with pytest.raises(SourceHttpError) as failure:
            read_month("vendor", http_source(api.url + "/costs", auth=auth), Month(2024, 8))
    message = str(failure.value)
    assert "answered 401" in message and "a billing role is needed" in message
    assert "environment variables VENDOR_PUBLIC_KEY and VENDOR_PRIVATE_KEY" in message
    assert "pubkey" not in message  # echoed by the API: ***
    monkeypatch.delenv("VENDOR_PRIVATE_KEY")
    with pytest.raises(SourceHttpError, match=r"the password \(the secret\) of HTTP Digest"):
        read_month("vendor", http_source("https://api.vendor.example/c", auth=auth), Month(2024, 8))
    with pytest.raises(ValueError, match="`scheme: digest` needs `password_env`"):
        http_source("https://api.vendor.example/c", auth={"env": "K", "scheme": "digest"})


def test_follow_reads_the_records_of_the_document_each_listed_record_points_to() -> None:
    """Invoices listed without their line items: each listed invoice's own document holds
    them; every line item carries its invoice's id and status, and its lineage is that
    document's URL."""
    documents = {
        "/invoices/a1": {"id": "a1", "status": "CLOSED", "lines": [{"c": "1"}, {"c": "2"}]},
        "/invoices/b%2F2": {"id": "b/2", "status": "PENDING", "lines": [{"c": "3"}]},
    }

    def respond(request: Request) -> Answer:
        if request.path == "/invoices":
            return Answer(body={"results": [{"id": "a1"}, {"id": "b/2"}, {"id": "c3"}]})
        return Answer(body=documents[request.path])

    with fake_api(respond) as api:
        source = http_source(
            "/invoices",
            base_url=api.url,
            records="results",
            where={"id": ["a1", "b/2"]},  # the listing is chosen before anything is followed
            follow={
                "url": "/invoices/{id}",
                "records": "lines",
                "fields": {"invoice": "id", "invoice_status": "status"},
            },
        )
        frame = read_month("vendor", source, Month(2024, 8))
    assert [r.path for r in api.requests] == ["/invoices", "/invoices/a1", "/invoices/b%2F2"]
    assert frame.select("c", "invoice", "invoice_status", "_source_row").rows() == [
        ("1", "a1", "CLOSED", 1),
        ("2", "a1", "CLOSED", 2),
        ("3", "b/2", "PENDING", 1),
    ]
    assert frame.get_column("_source_file").to_list()[2] == api.url + "/invoices/b%2F2"
    with fake_api(lambda r: Answer(body={"results": [{"number": 1}]})) as api:
        source = http_source(api.url + "/invoices", records="results", follow={"url": "/i/{id}"})
        with pytest.raises(SourceHttpError, match=r"record 1: has no 'id' for follow.url"):
            read_month("vendor", source, Month(2024, 8))
