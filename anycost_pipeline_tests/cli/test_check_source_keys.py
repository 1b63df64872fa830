"""`anycost check` also tries each pulled source's API key with one request for the current
month's first page (no other page, nothing kept), against vendor stand-ins: accepted, refused
naming the variables and the scope or role the preset's hint says it lacks, not set; a source
without a key is skipped with a word."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding
from anycost_pipeline_tests.vendors.atlas_api import atlas_api, august_invoices
from anycost_pipeline_tests.vendors.datadog_api import august_charges, datadog_api

DD_API, DD_APP = "ddapikey0check0a1b2c3", "ddappkey0check0d4e5f6"
ORG, PUBLIC, PRIVATE = "5f0a1b2c3d4e5f6a7b8c9d0e", "qwxzplmn", "4f3c2b1a-check-private"


def _line(said: str, source: str) -> str:
    """What the check said of one source (its line, in the printed words)."""
    rest = said.split(f" {source}: ", 1)[1]
    ends = [" exports: ", " datadog: ", " atlas: ", " github: ", " proxy: ", " 2 of ", " … "]
    return rest[: min(rest.find(end) % (len(rest) + 1) for end in ends)]


def test_check_tries_each_sources_key_once_and_says_accepted_refused_or_not_set(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DD_API_KEY", DD_API)
    monkeypatch.setenv("DD_APPLICATION_KEY", DD_APP)
    monkeypatch.setenv("ATLAS_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("ATLAS_PRIVATE_KEY", "an-old-private-key")
    monkeypatch.delenv("GITHUB_BILLING_TOKEN", raising=False)
    with (
        datadog_api(DD_API, DD_APP, august_charges()) as datadog,
        atlas_api(ORG, PUBLIC, PRIVATE, august_invoices()) as atlas,
    ):
        config = project.config()
        files = next(iter(config["sources"].values()))  # the example's export files: no key
        config["sources"] = {
            "exports": files,
            "datadog": {"connection": CONNECTION, "preset": "datadog", "base_url": datadog.url},
            "atlas": {
                "connection": CONNECTION,
                "preset": "atlas",
                "base_url": atlas.url,
                "placeholders": {"org_id": ORG},
            },
            "github": {
                "connection": CONNECTION,
                "preset": "github",
                "base_url": "https://api.github.invalid",
                "placeholders": {"org": "acme"},
            },
            "proxy": {
                "connection": CONNECTION,
                "kind": "http",
                "url": datadog.url + "/open",
                "columns": {"time/usage_start": "day", "cost/cost": "cost"},
            },
        }
        project.write_config(config)
        assert main(["check"]) == 1
    said = printed_words(capsys)

    assert "simple_cloud_main: OK" in said
    assert "exports: skipped: a files source has no API key to try" in said
    assert "proxy: skipped: no `auth`, so no key to try" in said
    accepted = _line(said, "datadog")
    assert "key accepted" in accepted
    assert "environment variables DD_API_KEY and DD_APPLICATION_KEY" in accepted
    # One request, the current month's first page; the historical endpoint was asked only once.
    (asked,) = datadog.seen
    assert asked.status == 200 and asked.path == "/api/v2/usage/historical_cost"

    refused = _line(said, "atlas")
    assert "key refused" in refused and "answered 401" in refused
    assert "environment variables ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY" in refused
    assert "Organization Billing Viewer" in refused  # the preset's hint: the role it needs
    assert [s.status for s in atlas.seen] == [401, 401]  # challenged, then refused

    unset = _line(said, "github")
    assert "key not set: environment variable GITHUB_BILLING_TOKEN is not set" in unset
    assert "Administration" in unset  # GitHub's hint: the permission the token needs
    assert "2 of 3 source keys failed the check" in said

    for secret in (DD_API, DD_APP, "an-old-private-key"):
        assert secret not in said and files_holding(project, secret) == []
    assert not (project.storage / "frames").exists()  # nothing was kept


def test_check_says_ok_when_every_key_is_accepted(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLAS_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("ATLAS_PRIVATE_KEY", PRIVATE)
    with atlas_api(ORG, PUBLIC, PRIVATE, august_invoices()) as atlas:
        config = project.config()
        config["sources"] = {
            "atlas": {
                "connection": CONNECTION,
                "preset": "atlas",
                "base_url": atlas.url,
                "placeholders": {"org_id": ORG},
            }
        }
        project.write_config(config)
        assert main(["check"]) == 0
    said = printed_words(capsys)
    assert "atlas: key accepted" in said and "1 source key accepted" in said.lower()
    # The Digest challenge, then the first page of invoices; no invoice was followed.
    assert [(s.status, s.path.rsplit("/", 1)[1]) for s in atlas.seen] == [
        (401, "invoices"),
        (200, "invoices"),
    ]
    assert PRIVATE not in said


def test_a_check_does_not_wait_long_on_a_rate_limit(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run waits up to retry_after_cap_seconds (600 by default); a check at most 30 s, and
    says it could not check rather than hold the command for an hour."""
    monkeypatch.setenv("DD_API_KEY", DD_API)
    monkeypatch.setenv("DD_APPLICATION_KEY", DD_APP)
    charges = august_charges()
    with datadog_api(DD_API, DD_APP, charges, throttle_request=1, reset_seconds="3600") as api:
        config = project.config()
        config["sources"] = {
            "datadog": {"connection": CONNECTION, "preset": "datadog", "base_url": api.url}
        }
        project.write_config(config)
        assert main(["check"]) == 1
    said = printed_words(capsys)
    assert "datadog: could not be checked" in said
    assert (
        "asked to wait 3600 s (X-RateLimit-Reset), more than retry_after_cap_seconds (30)" in said
    )
    assert len(api.seen) == 1
