"""The http kind against a real HTTP server on 127.0.0.1: pagination, auth, retries, exact numbers."""

import json
import time
from decimal import Decimal

import pytest

from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.months import Month
from anycost_pipeline.sources.http import SourceHttpError, read_month
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api
from anycost_pipeline_tests.sources.helpers import http_source, month_of, total

# Ten August records; costs are JSON numbers a float would not hold exactly.
RECORDS = [
    {
        "date": f"2024-08-{day:02d}T10:00:00Z",
        "service": "Compute",
        "cost": f"{day}0000000000.00000000{day}",
    }
    for day in range(1, 11)
]
EXPECTED_TOTAL = sum((Decimal(r["cost"]) for r in RECORDS), Decimal(0))
PAGE = 4  # ten records: pages of 4, 4 and 2


def raw_json(body: object) -> str:
    """JSON with the cost strings written as bare numbers."""
    text = json.dumps(body)
    for record in RECORDS:
        text = text.replace(f'"{record["cost"]}"', record["cost"])
    return text


def test_next_link_pagination_over_three_pages() -> None:
    def respond(request: Request) -> Answer:
        offset = int(request.query.get("offset", "0"))
        items = RECORDS[offset : offset + PAGE]
        more = offset + PAGE < len(RECORDS)
        body = {
            "result": {"items": items},
            "links": {"next": f"/v1/costs?offset={offset + PAGE}" if more else None},
        }
        return Answer(raw=raw_json(body))

    with fake_api(respond) as api:
        source = http_source(
            api.url + "/v1/costs?from={start}&to={last_day}",
            records="result.items",
            pagination={"type": "next_link", "next": "links.next"},
        )
        frame = read_month("vendor", source, Month(2024, 8))
    assert len(api.requests) == 3
    assert api.requests[0].query == {"from": "2024-08-01", "to": "2024-08-31"}
    assert len(frame) == 10 and total(frame) == EXPECTED_TOTAL
    assert frame.get_column("cost").to_list() == [r["cost"] for r in RECORDS]
    assert frame.get_column(SOURCE_FILE).to_list()[-1].endswith("/v1/costs?offset=8")
    assert len(month_of(frame, "2024-08")) == 10


def test_cursor_pagination_sends_the_cursor_back_with_the_month() -> None:
    def respond(request: Request) -> Answer:
        offset = int(request.query.get("cursor", "c0")[1:])
        more = offset + PAGE < len(RECORDS)
        body = {
            "data": RECORDS[offset : offset + PAGE],
            "next_cursor": f"c{offset + PAGE}" if more else None,
        }
        return Answer(raw=raw_json(body))

    with fake_api(respond) as api:
        source = http_source(
            api.url + "/costs",
            params={"start": "{start_time}", "end": "{end_time}"},
            records="data",
            pagination={"type": "cursor", "cursor": "next_cursor", "param": "cursor"},
        )
        frame = read_month("vendor", source, Month(2024, 8))
    assert [r.query.get("cursor") for r in api.requests] == [None, "c4", "c8"]
    assert all(
        r.query["start"] == "2024-08-01T00:00:00Z" and r.query["end"] == "2024-09-01T00:00:00Z"
        for r in api.requests
    )
    assert len(frame) == 10 and total(frame) == EXPECTED_TOTAL


@pytest.mark.parametrize("size", [PAGE, None])
def test_numbered_pages_stop_at_a_short_or_empty_page(size: int | None) -> None:
    def respond(request: Request) -> Answer:
        page = int(request.query["page"])
        per_page = int(request.query.get("per_page", PAGE))
        return Answer(raw=raw_json(RECORDS[(page - 1) * per_page : page * per_page]))

    with fake_api(respond) as api:
        pagination = {"type": "page", "param": "page", "first": 1}
        if size:
            pagination |= {"size_param": "per_page", "size": size}
        frame = read_month(
            "vendor", http_source(api.url + "/costs", pagination=pagination), Month(2024, 8)
        )
    assert [r.query["page"] for r in api.requests] == (
        ["1", "2", "3"] if size else ["1", "2", "3", "4"]
    )
    assert len(frame) == 10 and total(frame) == EXPECTED_TOTAL


def test_auth_header_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_api(lambda r: Answer(raw=raw_json(RECORDS[:2]))) as api:
        source = http_source(
            api.url + "/costs",
            auth={"header": "Authorization", "env": "VENDOR_TOKEN", "prefix": "Bearer "},
        )
        monkeypatch.delenv("VENDOR_TOKEN", raising=False)
        with pytest.raises(SourceHttpError, match="VENDOR_TOKEN is not set"):
            read_month("vendor", source, Month(2024, 8))
        assert api.requests == []
        monkeypatch.setenv("VENDOR_TOKEN", "s3cret")
        read_month("vendor", source, Month(2024, 8))
    assert api.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_429_with_retry_after_and_5xx_are_retried() -> None:
    answers = [
        Answer(status=429, body={"error": "slow down"}, headers={"Retry-After": "1"}),
        Answer(status=503, body={"error": "busy"}),
        Answer(raw=raw_json(RECORDS)),
    ]
    with fake_api(lambda r: answers.pop(0)) as api:
        frame = read_month(
            "vendor", http_source(api.url + "/costs", backoff_seconds=0), Month(2024, 8)
        )
    assert len(api.requests) == 3
    assert total(frame) == EXPECTED_TOTAL


def test_errors_name_the_url_and_status() -> None:
    with fake_api(lambda r: Answer(status=500, body={"error": "down"})) as api:
        with pytest.raises(
            SourceHttpError,
            match=r"GET http://127\.0\.0\.1:\d+/costs answered 500.*after retries.*down",
        ):
            read_month(
                "vendor",
                http_source(api.url + "/costs", retries=2, backoff_seconds=0),
                Month(2024, 8),
            )
    assert len(api.requests) == 3  # the first try and two retries
    with fake_api(lambda r: Answer(status=404, body={"error": "no such report"})) as api:
        with pytest.raises(SourceHttpError, match="answered 404.*no such report"):
            read_month("vendor", http_source(api.url + "/costs", backoff_seconds=0), Month(2024, 8))
    assert len(api.requests) == 1  # not retried
    with fake_api(lambda r: Answer(body={"rows": []})) as api:
        with pytest.raises(SourceHttpError, match="no key 'data'"):
            read_month("vendor", http_source(api.url + "/costs", records="data"), Month(2024, 8))


def test_a_slow_answer_times_out_with_a_clear_error() -> None:
    def respond(request: Request) -> Answer:
        time.sleep(1)
        return Answer(raw=raw_json(RECORDS))

    with fake_api(respond) as api:
        with pytest.raises(
            SourceHttpError, match=r"GET http://127\.0\.0\.1:\d+/costs failed: .*timed out"
        ):
            read_month(
                "vendor",
                http_source(api.url + "/costs", timeout_seconds=0.2, retries=0),
                Month(2024, 8),
            )


def test_unknown_url_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{from\}"):
        http_source("http://127.0.0.1/costs?from={from}")
