"""`preset: anthropic` against a stand-in of Anthropic's Admin API cost report, through
`anycost run`: the month arrives in dollars to the last digit (the API states cents) over several
pages and a 429, a restated day changes only that day, a refused key names its variable and
sends nothing, and the preset is what a user could write by hand."""

import dataclasses
from decimal import Decimal

import pytest

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.config import HttpSource
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.anthropic_api import Cost, anthropic_api, august_ledger

KEY = "sk-ant-admin01-stand-in-4b2e81"
CENT = Decimal("0.01")


def _august(costs: list[Cost]) -> list[Cost]:
    return [c for c in costs if c.day.startswith("2024-08-")]


def _dollars(costs: list[Cost]) -> Decimal:
    """The stand-in's costs in dollars, worked out here from its cents."""
    return sum((Decimal(c.amount) for c in costs), Decimal(0)) / 100


def _use_anthropic(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "anthropic": {"connection": CONNECTION, "preset": "anthropic", "base_url": base_url, **keys}
    }
    project.write_config(config)


def test_a_month_of_anthropic_costs_arrives_in_dollars_exactly_over_pages_and_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    with anthropic_api(KEY, ledger, throttle_request=2, retry_after="1") as api:
        _use_anthropic(project, api.url, params={"limit": "10"})
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and KEY not in said
    assert files_holding(project, KEY) == []  # frames, run history (Dagster events), sandbox

    # Four pages of ten, ten, ten and one day bucket; the second request was the 429, and the
    # same page was asked again after the retry-after second.
    asked = [s for s in api.seen if s.status == 200]
    assert len(asked) == 4 and asked[0].query.get("page") is None
    assert all(s.query.get("page") for s in asked[1:])
    assert api.seen[1].status == 429 and api.seen[2].query == api.seen[1].query
    assert api.seen[2].at - api.seen[1].at >= 1.0
    first = asked[0].query
    assert first["starting_at"] == ["2024-08-01T00:00:00Z"]
    assert first["ending_at"] == ["2024-09-01T00:00:00Z"]
    assert first["bucket_width"] == ["1d"]
    assert first["group_by[]"] == ["workspace_id", "description"]
    assert all(s.header("x-api-key") == KEY for s in api.seen)
    assert all(s.header("anthropic-version") == "2023-06-01" for s in api.seen)

    expected = _august(ledger)
    rows = sent_rows(project, "2024-08")
    assert len(rows) == len(expected)  # one CBF row per result
    total = sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))
    assert total == _dollars(expected) and total > 0
    by_key = {
        (r["time/usage_start"], r.get("resource/account"), r["resource/service"]): r for r in rows
    }
    for cost in expected:
        row = by_key[(f"{cost.day}T00:00:00Z", cost.workspace_id, cost.description)]
        assert Decimal(row["cost/cost"]) == Decimal(cost.amount) * CENT  # cents → dollars
        assert row.get("lineitem/type", "Usage") == "Usage"
        assert row["resource/usage_family"] == cost.cost_type
        assert row.get("action/usage_type") == cost.token_type


def test_fractional_cents_are_scaled_exactly(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reference's own example: "123.78912" cents is $1.2378912, not $1.23."""
    ledger = [
        Cost("2024-08-01", "wrkspc_0A", "Claude Sonnet 4 Usage - Input Tokens", "123.78912"),
        Cost("2024-08-02", "wrkspc_0A", "Claude Sonnet 4 Usage - Input Tokens", "0.00001"),
        Cost("2024-08-03", None, "Web Search Usage", "1000", cost_type="web_search"),
    ]
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    with anthropic_api(KEY, ledger) as api:
        _use_anthropic(project, api.url)
        assert main(["run", "2024-08"]) == 0
    costs = sorted((r["time/usage_start"], r["cost/cost"]) for r in sent_rows(project, "2024-08"))
    assert [Decimal(c) for _, c in costs] == [
        Decimal("1.2378912"),
        Decimal("0.0000001"),
        Decimal("10"),
    ]
    assert all("e" not in c.lower() for _, c in costs)
    # The source's month and the CBF month are both stated in dollars, never in cents.
    said = printed_words(capsys)
    assert said.count("cost=11.2378913") >= 2 and "cost=1123.78913" not in said


def test_a_restated_day_changes_exactly_that_day_when_the_month_is_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    with anthropic_api(KEY, ledger) as api:
        _use_anthropic(project, api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        # Anthropic restates 5 August: one cost item grows by 7.5 cents.
        (index, cost) = next((i, c) for i, c in enumerate(ledger) if c.day == "2024-08-05")
        ledger[index] = dataclasses.replace(cost, amount=str(Decimal(cost.amount) + Decimal("7.5")))
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-05T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("0.075")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == _dollars(_august(ledger))


def test_a_refused_key_fails_the_month_naming_its_variable_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-api03-a-workspace-key")
    with anthropic_api(KEY, august_ledger()) as api:
        _use_anthropic(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert "refused the key in environment variable ANTHROPIC_ADMIN_KEY" in said
    assert "Anthropic Admin API key is needed" in said
    assert "sk-ant-api03-a-workspace-key" not in said  # echoed by the API, shown as ***
    assert files_holding(project, "sk-ant-api03-a-workspace-key") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1  # a 401 is not retried


def test_the_preset_is_what_a_user_could_write_in_anycost_yaml() -> None:
    by_hand = HttpSource.model_validate({"connection": CONNECTION, **PRESETS["anthropic"]})
    by_preset = HttpSource.model_validate({"connection": CONNECTION, "preset": "anthropic"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.address == "https://api.anthropic.com/v1/organizations/cost_report"
    assert by_hand.auth is not None and by_hand.auth.env == "ANTHROPIC_ADMIN_KEY"
    assert by_hand.auth.header == "x-api-key" and by_hand.auth.prefix == ""
    assert by_hand.headers == {"anthropic-version": "2023-06-01"}
    assert by_hand.cost_stated == "`amount` × 0.01"
