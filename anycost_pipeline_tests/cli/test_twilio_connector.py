"""`preset: twilio` against a stand-in of Twilio's daily usage records, through `anycost run`: the
month's total price arrives to the last digit over several pages and a 429, never adding a
category to its parent; a restated day changes only that day; a refused token names both
variables and sends nothing."""

import dataclasses
from decimal import Decimal

import pytest

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.config import HttpSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.http import read_month
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.twilio_api import Usage, august_usage, twilio_api

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-9f8e7d"


def _august(usage: list[Usage]) -> list[Usage]:
    return [u for u in usage if u.day.startswith("2024-08-")]


def _priced(usage: list[Usage]) -> Decimal:
    """The leaves' prices added up here: each usage once."""
    return sum((Decimal(u.price) for u in usage), Decimal(0))


def _use_twilio(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "twilio": {
            "connection": CONNECTION,
            "preset": "twilio",
            "base_url": base_url,
            "placeholders": {"account_sid": SID},
            **keys,
        }
    }
    project.write_config(config)


def test_a_month_of_twilio_prices_arrives_exactly_over_pages_and_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = august_usage()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with twilio_api(SID, TOKEN, usage, throttle_request=2, retry_after="1") as api:
        _use_twilio(project, api.url, params={"PageSize": "10"})
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and TOKEN not in said
    assert files_holding(project, TOKEN) == []

    # 31 daily totals in pages of 10: four pages; the 429 was asked again after a second.
    asked = [s for s in api.seen if s.status == 200]
    assert [s.query.get("Page") for s in asked] == [None, ["1"], ["2"], ["3"]]
    assert api.seen[1].status == 429 and api.seen[2].query == api.seen[1].query
    assert api.seen[2].at - api.seen[1].at >= 1.0
    first = asked[0].query
    assert first["Category"] == ["totalprice"]
    assert first["StartDate"] == ["2024-08-01"] and first["EndDate"] == ["2024-08-31"]

    rows = sent_rows(project, "2024-08")
    assert len(rows) == 31  # one total per day, 11 August's is 0
    total = sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))
    assert total == _priced(_august(usage)) and total > 0
    for day in range(1, 32):
        (row,) = [r for r in rows if r["time/usage_start"] == f"2024-08-{day:02d}T00:00:00Z"]
        expected = _priced([u for u in usage if u.day == f"2024-08-{day:02d}"])
        assert Decimal(row["cost/cost"]) == expected
        assert row["resource/service"] == "Twilio" and row["resource/account"] == SID


def test_every_category_at_once_would_count_each_usage_several_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the preset asks for `totalprice` alone: without `Category` Twilio lists parents
    beside their children, and their sum is more than the bill."""
    usage = august_usage()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with twilio_api(SID, TOKEN, usage) as api:
        everything = HttpSource.model_validate(
            {
                "connection": CONNECTION,
                "preset": "twilio",
                "base_url": api.url,
                "placeholders": {"account_sid": SID},
                "params": {"Category": None},  # null leaves the preset's parameter out
            }
        )
        frame = read_month("twilio", everything, Month(2024, 8))
    listed = sum((Decimal(p) for p in frame.get_column("price")), Decimal(0))
    assert listed == 3 * _priced(_august(usage))  # leaves + parents + totalprice


def test_a_restated_day_changes_exactly_that_day_when_the_month_is_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = august_usage()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with twilio_api(SID, TOKEN, usage) as api:
        _use_twilio(project, api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        # Twilio reprices 9 August's outbound calls.
        (index, item) = next(
            (n, u)
            for n, u in enumerate(usage)
            if u.day == "2024-08-09" and u.category == "calls-outbound"
        )
        usage[index] = dataclasses.replace(item, price=str(Decimal(item.price) + Decimal("0.013")))
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-09T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("0.013")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == _priced(_august(usage))


def test_a_refused_token_fails_the_month_naming_both_variables_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "rotated-token-1a2b")
    with twilio_api(SID, TOKEN, august_usage()) as api:
        _use_twilio(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert "environment variables TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in said
    assert "rotated-token-1a2b" not in said
    assert files_holding(project, "rotated-token-1a2b") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1


def test_the_preset_is_what_a_user_could_write_in_anycost_yaml() -> None:
    mine = {"connection": CONNECTION, "placeholders": {"account_sid": SID}}
    by_hand = HttpSource.model_validate({**mine, **PRESETS["twilio"]})
    by_preset = HttpSource.model_validate({**mine, "preset": "twilio"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.params["Category"] == "totalprice"
    assert by_hand.auth is not None and by_hand.auth.password_env == "TWILIO_AUTH_TOKEN"
