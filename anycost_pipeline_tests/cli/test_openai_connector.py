"""`preset: openai` against a stand-in of OpenAI's Organization Costs API, through `anycost run`:
the month arrives to the last digit over several pages and a 429, a refused key names its
variable and sends nothing, and the user's keys win over the preset's."""

import dataclasses
from decimal import Decimal
from typing import get_args

import pytest

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.config import HttpSource, SourceConfig
from anycost_pipeline.months import Month
from anycost_pipeline.sources.http import read_month
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.openai_api import DAY, Cost, august_ledger, openai_api

KEY = "sk-admin-stand-in-7f3a9c"
AUGUST = 1722470400  # 2024-08-01T00:00:00Z
SEPTEMBER = 1725148800


def _august(costs: list[Cost]) -> list[Cost]:
    return [c for c in costs if AUGUST <= c.day_start < SEPTEMBER]


def _use_openai(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "openai": {"connection": CONNECTION, "preset": "openai", "base_url": base_url, **keys}
    }
    project.write_config(config)


def test_a_month_of_openai_costs_arrives_exactly_over_pages_and_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    with openai_api(KEY, ledger, throttle_request=2, retry_after="1") as api:
        _use_openai(project, api.url, params={"limit": "10"})
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and KEY not in said
    assert files_holding(project, KEY) == []  # frames, run history (Dagster events), sandbox

    # Four pages of ten, ten, ten and one day bucket; the second request was the 429, and the
    # same page was asked again after the Retry-After second.
    asked = [s for s in api.seen if s.status == 200]
    assert [s.query.get("page") for s in asked] == [None, ["page_10"], ["page_20"], ["page_30"]]
    assert api.seen[1].status == 429 and api.seen[2].query == api.seen[1].query
    assert api.seen[2].at - api.seen[1].at >= 1.0
    first = asked[0].query
    assert first["start_time"] == [str(AUGUST)] and first["end_time"] == [str(SEPTEMBER)]
    assert first["bucket_width"] == ["1d"] and first["group_by[]"] == ["project_id", "line_item"]
    assert all(s.authorization == f"Bearer {KEY}" for s in api.seen)

    expected = _august(ledger)
    rows = sent_rows(project, "2024-08")
    assert len(rows) == len(expected)  # one CBF row per result
    assert sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0)) == sum(
        (Decimal(c.value) for c in expected), Decimal(0)
    )
    # Each result's row, found by its day, project and line item.
    by_key = {
        (r["time/usage_start"], r.get("resource/account"), r["resource/service"]): r for r in rows
    }
    for cost in expected:
        start = f"2024-08-{(cost.day_start - AUGUST) // DAY + 1:02d}T00:00:00Z"
        row = by_key[(start, cost.project_id, cost.line_item)]
        assert Decimal(row["cost/cost"]) == Decimal(cost.value)
        assert "e" not in row["cost/cost"].lower()  # plain notation, 2.5e-05 → 0.000025
        assert row.get("lineitem/type", "Usage") == "Usage"
        assert row["usage/amount"] == cost.quantity
        assert row["usage/units"] == cost.quantity_unit


def test_a_refused_key_fails_the_month_naming_its_variable_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-proj-not-an-admin-key")
    with openai_api(KEY, august_ledger()) as api:
        _use_openai(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert "refused the key in environment variable OPENAI_ADMIN_KEY" in said
    assert "OpenAI Admin key is needed" in said
    assert "sk-proj-not-an-admin-key" not in said  # echoed by the API, shown as ***
    assert files_holding(project, "sk-proj-not-an-admin-key") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1  # a 401 is not retried


def test_the_users_keys_win_over_the_presets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = august_ledger()
    monkeypatch.setenv("TEAM_OPENAI_KEY", KEY)
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    with openai_api(KEY, ledger) as api:
        source = HttpSource.model_validate(
            {
                "connection": CONNECTION,
                "preset": "openai",
                "base_url": api.url,
                "auth": {"env": "TEAM_OPENAI_KEY"},  # the preset's header and "Bearer " stay
                "params": {"limit": "5", "group_by[]": ["project_id"]},  # the others stay
                "columns": {"resource/service": {"value": "OpenAI"}, "usage/amount": None},
            }
        )
        frame = read_month("openai", source, Month(2024, 8))
    assert len(api.seen) == 7  # 31 days in pages of 5
    assert api.seen[0].query["group_by[]"] == ["project_id"]
    assert api.seen[0].query["bucket_width"] == ["1d"]
    assert source.columns["resource/service"].value == "OpenAI"  # type: ignore[union-attr]
    assert "usage/amount" not in source.columns and "usage/units" in source.columns
    # Grouped by project alone: one result per project and day, line items summed by the API.
    assert frame.get_column("line_item").null_count() == len(frame)
    assert sum(Decimal(v) for v in frame.get_column("amount.value")) == sum(
        (Decimal(c.value) for c in _august(ledger)), Decimal(0)
    )


def test_the_preset_is_what_a_user_could_write_in_anycost_yaml() -> None:
    """The connector is data: its keys, written under a source by hand (no preset), make the
    same source."""
    by_hand = HttpSource.model_validate({"connection": CONNECTION, **PRESETS["openai"]})
    by_preset = HttpSource.model_validate({"connection": CONNECTION, "preset": "openai"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.address == "https://api.openai.com/v1/organization/costs"
    assert by_hand.auth is not None and by_hand.auth.env == "OPENAI_ADMIN_KEY"
    # Every preset file is a choice of `preset:` (the model lists them for the JSON schema).
    (choices, _none) = get_args(SourceConfig.model_fields["preset"].annotation)
    assert set(get_args(choices)) == set(PRESETS)


def test_a_restated_day_changes_exactly_that_day_when_the_month_is_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    with openai_api(KEY, ledger) as api:
        _use_openai(project, api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        # OpenAI restates 5 August: one line item's cost changes.
        fifth = AUGUST + 4 * DAY
        (index, cost) = next((i, c) for i, c in enumerate(ledger) if c.day_start == fifth)
        ledger[index] = dataclasses.replace(cost, value=str(Decimal(cost.value) + Decimal("0.07")))
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-05T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("0.07")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == sum(
        (Decimal(c.value) for c in _august(ledger)), Decimal(0)
    )


def test_a_cost_in_another_currency_fails_the_month_naming_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = august_ledger()
    ledger[5] = dataclasses.replace(ledger[5], currency="eur")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    with openai_api(KEY, ledger) as api:
        _use_openai(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "amount.currency" in said and "'eur'" in said and "nothing sent" in said
    assert sent_rows(project, "2024-08") == []
