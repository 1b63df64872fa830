"""`preset: github` against a stand-in of GitHub's billing usage report, through `anycost run`:
the month's net amounts arrive to the last digit after a 429, a restated day changes only that
day, a refused token names its variable and sends nothing, and the organization is the
source's own placeholder."""

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.config import HttpSource
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.github_api import Item, august_items, github_api

TOKEN = "github_pat_11STANDIN0aB3c"
ORG = "Acme-Corp"


def _august(items: list[Item]) -> list[Item]:
    return [i for i in items if i.date.startswith("2024-08-")]


def _net(items: list[Item]) -> Decimal:
    return sum((Decimal(i.net) for i in items), Decimal(0))


def _use_github(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "github": {
            "connection": CONNECTION,
            "preset": "github",
            "base_url": base_url,
            "placeholders": {"org": ORG},
            **keys,
        }
    }
    project.write_config(config)


def test_a_month_of_github_usage_arrives_exactly_after_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    items = august_items()
    monkeypatch.setenv("GITHUB_BILLING_TOKEN", TOKEN)
    with github_api(ORG, TOKEN, items, throttle_request=1, retry_after="1") as api:
        _use_github(project, api.url)
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and TOKEN not in said
    assert files_holding(project, TOKEN) == []  # frames, run history (Dagster events), sandbox

    # GitHub documents no pagination: the month is one answer, asked again after the 429.
    assert [s.status for s in api.seen] == [429, 200]
    assert api.seen[1].at - api.seen[0].at >= 1.0
    assert api.seen[1].path == f"/organizations/{ORG}/settings/billing/usage"
    assert api.seen[1].query == {"year": ["2024"], "month": ["8"]}
    assert all(s.authorization == f"Bearer {TOKEN}" for s in api.seen)
    assert api.seen[1].header("X-GitHub-Api-Version") == "2022-11-28"

    expected = _august(items)
    rows = sent_rows(project, "2024-08")
    assert len(rows) == len(expected)
    total = sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))
    assert total == _net(expected) and total > 0
    by_key = {(r["time/usage_start"], r["action/usage_type"]): r for r in rows}
    for item in expected:
        row = by_key[(f"{item.date}T00:00:00Z", item.sku)]
        assert Decimal(row["cost/cost"]) == Decimal(item.net)  # netAmount is the bill
        assert Decimal(row.get("cost/on_demand_cost", row["cost/cost"])) == Decimal(item.gross)
        assert "e" not in row["cost/cost"].lower()  # 1.2e-05 → 0.000012
        assert row["resource/service"] == item.product and row["resource/account"] == ORG
        assert row["usage/amount"] == item.quantity and row["usage/units"] == item.unit_type
        assert row.get("lineitem/type", "Usage") == "Usage"


def test_a_restated_day_changes_exactly_that_day_when_the_month_is_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    items = august_items()
    monkeypatch.setenv("GITHUB_BILLING_TOKEN", TOKEN)
    with github_api(ORG, TOKEN, items) as api:
        _use_github(project, api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        # GitHub restates 12 August's Actions minutes.
        (index, item) = next(
            (n, i)
            for n, i in enumerate(items)
            if i.date == "2024-08-12" and i.sku == "actions_linux"
        )
        items[index] = dataclasses.replace(item, net=str(Decimal(item.net) + Decimal("0.016")))
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-12T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("0.016")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == _net(_august(items))


def test_a_refused_token_fails_the_month_naming_its_variable_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_BILLING_TOKEN", "ghp_expired0token")
    with github_api(ORG, TOKEN, august_items()) as api:
        _use_github(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert "refused the key in environment variable GITHUB_BILLING_TOKEN" in said
    assert "organization owner or billing manager" in said
    assert "ghp_expired0token" not in said
    assert files_holding(project, "ghp_expired0token") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1


def test_the_preset_needs_the_organization_and_is_what_a_user_could_write() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{org\}.*placeholders: \{org:"):
        HttpSource.model_validate({"connection": CONNECTION, "preset": "github"})
    mine = {"connection": CONNECTION, "placeholders": {"org": ORG}}
    by_hand = HttpSource.model_validate({**mine, **PRESETS["github"]})
    by_preset = HttpSource.model_validate({**mine, "preset": "github"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.auth is not None and by_hand.auth.env == "GITHUB_BILLING_TOKEN"
    assert by_hand.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert "hour" not in by_hand.params


def test_github_is_connected_from_scratch_with_its_organization_as_a_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`anycost add-source --vendor github --placeholder org=LOGIN` writes the block with the
    organization, previews the month and `anycost run` sends it; without the placeholder the
    command says which one it needs and writes nothing."""
    for variable in ("ANYCOST_CONFIG", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_BILLING_TOKEN", TOKEN)
    items = august_items()
    with github_api(ORG, TOKEN, items) as api:
        command = ["add-source", "--vendor", "github", "--base-url", api.url, "--month", "2024-08"]
        assert main([*command, "--write"]) == 1
        assert "--vendor github needs --placeholder org=VALUE (part of its URL" in printed_words(
            capsys
        )
        assert not (tmp_path / "anycost.yaml").exists() and api.seen == []

        assert main([*command, "--placeholder", f"org={ORG}", "--write"]) == 0
        said = printed_words(capsys)
        assert f"Total: {_net(_august(items))}" in said and TOKEN not in said
        written = yaml.safe_load((tmp_path / "anycost.yaml").read_text())
        assert written["sources"]["github"]["placeholders"] == {"org": ORG}

        assert main(["run", "2024-08"]) == 0
        assert "2024-08: sent" in printed_words(capsys)
    rows = SandboxStore(tmp_path / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0)) == _net(_august(items))
