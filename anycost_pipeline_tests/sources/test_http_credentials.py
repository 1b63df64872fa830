"""The http source's credentials stay with the configured host: not sent across a redirect or a
`next_link` page to another host (scheme, host and port), never shown when a vendor echoes them,
and never sent in clear text except to this machine. Two servers on 127.0.0.1 with different
ports are two hosts."""

from decimal import Decimal

import pytest

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api
from anycost_pipeline_tests.sources.helpers import CONNECTION, failure_message, sent_rows

TOKEN = "tok-3f9a1c77e2b54d0c"
RECORDS = [
    {"date": "2024-08-01T10:00:00Z", "service": "Compute", "cost": "1.10"},
    {"date": "2024-08-02T10:00:00Z", "service": "Compute", "cost": "2.20"},
]


def use_api(project: Project, url: str, monkeypatch: pytest.MonkeyPatch, **options: object) -> None:
    monkeypatch.setenv("VENDOR_KEY", TOKEN)
    config = project.config()
    config["sources"] = {
        "vendor": {
            "connection": CONNECTION,
            "kind": "http",
            "url": url,
            "auth": {"header": "X-Api-Key", "env": "VENDOR_KEY"},
            "records": "data",
            "retries": 0,
            "columns": {
                "time/usage_start": "date",
                "cost/cost": "cost",
                "resource/service": "service",
            },
            **options,
        }
    }
    project.write_config(config)


def keys_seen(requests: list[Request]) -> list[str | None]:
    return [r.headers.get("X-Api-Key") for r in requests]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_does_not_carry_the_key(
    project: Project, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with fake_api(lambda r: Answer(body={"data": RECORDS})) as other:

        def respond(request: Request) -> Answer:
            return Answer(status=status, headers={"Location": f"{other.url}/moved?x=1"})

        with fake_api(respond) as api:
            use_api(project, api.url + "/usage", monkeypatch)
            result = project.materialize_month("2024-08", raise_on_error=False)
    assert result.success, failure_message(result)
    assert keys_seen(api.requests) == [TOKEN]
    assert keys_seen(other.requests) == [None]
    assert other.requests[0].query == {"x": "1"}
    assert sum(Decimal(r["cost/cost"]) for r in sent_rows(project, "2024-08")) == Decimal("3.30")


def test_a_redirect_on_the_same_host_keeps_the_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def respond(request: Request) -> Answer:
        if request.path == "/usage":
            return Answer(status=307, headers={"Location": "/v2/usage"})
        return Answer(body={"data": RECORDS})

    with fake_api(respond) as api:
        use_api(project, api.url + "/usage", monkeypatch)
        assert project.materialize_month("2024-08").success
    assert keys_seen(api.requests) == [TOKEN, TOKEN]


def test_a_next_page_on_another_host_does_not_carry_the_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_api(lambda r: Answer(body={"data": RECORDS[1:], "next": None})) as other:

        def respond(request: Request) -> Answer:
            if request.path == "/usage":
                return Answer(body={"data": RECORDS[:1], "next": "/usage/2"})
            return Answer(body={"data": [], "next": f"{other.url}/page3"})

        with fake_api(respond) as api:
            use_api(
                project,
                api.url + "/usage",
                monkeypatch,
                pagination={"type": "next_link", "next": "next"},
            )
            result = project.materialize_month("2024-08", raise_on_error=False)
    assert result.success, failure_message(result)
    assert keys_seen(api.requests) == [TOKEN, TOKEN]  # the same host's second page keeps it
    assert keys_seen(other.requests) == [None]
    assert len(sent_rows(project, "2024-08")) == 2


def test_a_token_echoed_in_an_error_is_hidden(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def respond(request: Request) -> Answer:
        key = request.headers.get("X-Api-Key")
        return Answer(status=401, body={"error": f"key {key} is not valid", "echo": {"k": key}})

    with fake_api(respond) as api:
        use_api(project, api.url + "/usage", monkeypatch)
        result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "answered 401" in message and "is not valid" in message
    assert TOKEN not in message and TOKEN[:8] not in message
    assert "***" in message
    assert all(TOKEN not in str(e) for e in result.all_events)


def test_a_token_echoed_in_a_body_that_is_not_json_is_hidden(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_api(lambda r: Answer(raw=f"<html>hello {r.headers.get('X-Api-Key')}</html>")) as api:
        use_api(project, api.url + "/usage", monkeypatch)
        result = project.materialize_month("2024-08", raise_on_error=False)
    message = failure_message(result)
    assert "did not answer JSON" in message and TOKEN not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://api.vendor.example/usage",
        "http://10.0.0.7:8080/usage",
        "HTTP://Api.Vendor.Example/usage",
        "http://127.0.0.1.vendor.example/usage",
    ],
)
def test_plain_http_with_a_key_is_refused_except_on_loopback(
    project: Project, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    use_api(project, url, monkeypatch)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "plain http" in message and "https://" in message
    assert TOKEN not in message


def test_plain_http_with_a_key_to_localhost_is_allowed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_api(lambda r: Answer(body={"data": RECORDS})) as api:
        use_api(project, api.url.replace("127.0.0.1", "localhost") + "/usage", monkeypatch)
        assert project.materialize_month("2024-08").success
    assert keys_seen(api.requests) == [TOKEN]


def test_an_origin_is_scheme_host_and_port() -> None:
    from anycost_pipeline.sources.http_credentials import is_loopback, origin

    assert origin("https://API.vendor.example/x") == origin("https://api.vendor.example:443/y")
    assert origin("https://api.vendor.example/x") != origin("http://api.vendor.example/x")
    assert origin("http://127.0.0.1:8000/x") != origin("http://127.0.0.1:8001/x")
    assert origin("https://api.vendor.example/x") != origin("https://api.vendor.example.evil/x")
    assert [is_loopback(h) for h in ("localhost", "127.0.0.5", "::1", "[::1]", "10.0.0.1")] == [
        True,
        True,
        True,
        True,
        False,
    ]
