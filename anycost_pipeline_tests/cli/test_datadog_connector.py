"""`preset: datadog` (historical cost, final months) and `preset: datadog_estimated` (estimated
cost, cumulative by day) against a stand-in of Datadog's cost endpoints, through `anycost run`:
a month arrives to the last digit with only the `total` charges (never added to their parts),
after a 429 that says when to come back in X-RateLimit-Reset; month-to-date figures become each
day's own cost, so a restated day changes only that day; a refused key names both variables and
sends nothing; neither key is written anywhere."""

import dataclasses
from collections import defaultdict
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
from anycost_pipeline_tests.vendors.datadog_api import Charge, august_charges, datadog_api

API_KEY = "ddapikey0stand0in0a1b2c3d4e5f6a7"
APP_KEY = "ddappkey0stand0in0f9e8d7c6b5a4f3e2d1c0b9a8"


def _august(charges: list[Charge]) -> list[Charge]:
    return [c for c in charges if c.day.startswith("2024-08-")]


def _billed(charges: list[Charge]) -> Decimal:
    """What Datadog billed for these charges, worked out here: each product's committed plus
    on-demand cost."""
    return sum((Decimal(c.committed) + Decimal(c.on_demand) for c in charges), Decimal(0))


def _use(project: Project, preset: str, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        preset: {"connection": CONNECTION, "preset": preset, "base_url": base_url, **keys}
    }
    project.write_config(config)


def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APPLICATION_KEY", APP_KEY)


def _total(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))


def test_a_month_of_historical_cost_arrives_exactly_after_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    charges = august_charges()
    _keys(monkeypatch)
    with datadog_api(API_KEY, APP_KEY, charges, throttle_request=1, reset_seconds="1") as api:
        _use(project, "datadog", api.url)
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and API_KEY not in said and APP_KEY not in said
    # frames, run history (Dagster events), sandbox
    assert files_holding(project, API_KEY) == [] and files_holding(project, APP_KEY) == []

    # The 429 had no Retry-After: its X-RateLimit-Reset second was waited, then the same call.
    assert [s.status for s in api.seen] == [429, 200]
    assert api.seen[1].query == api.seen[0].query and api.seen[1].at - api.seen[0].at >= 1.0
    assert api.seen[1].header("DD-API-KEY") == API_KEY
    assert api.seen[1].path == "/api/v2/usage/historical_cost"
    # Exactly YYYY-MM: Datadog refuses a date-time (OpenCost's plugin got zero costs from it).
    assert api.seen[1].query == {
        "start_month": ["2024-08"],
        "end_month": ["2024-08"],
        "view": ["sub-org"],
    }

    rows = sent_rows(project, "2024-08")
    expected = _august(charges)
    # Only each product's `total`: the sum is what was billed, not twice it.
    assert _total(rows) == _billed(expected) > 0
    # The month's cost of each organization and product is spread over its 31 days exactly.
    by_product: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        by_product[(r["resource/account"], r["resource/service"])] += Decimal(r["cost/cost"])
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for c in expected:
        billed[(c.org, c.product)] += Decimal(c.committed) + Decimal(c.on_demand)
    assert by_product == billed
    assert len({r["time/usage_start"] for r in rows}) == 31
    assert {r["lineitem/description"] for r in rows} == {"abc123 org", "def456 org"}
    assert all("e" not in r["cost/cost"].lower() for r in rows)  # 1.5e-05 → plain notation


def test_a_restated_month_changes_exactly_that_product_when_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    charges = august_charges()
    _keys(monkeypatch)
    with datadog_api(API_KEY, APP_KEY, charges) as api:
        _use(project, "datadog", api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        (index, charge) = next(
            (n, c)
            for n, c in enumerate(charges)
            if c.day == "2024-08-12" and c.org == "def456" and c.product == "apm_host"
        )
        charges[index] = dataclasses.replace(charge, on_demand="3.1")  # was 0.1
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    assert {(r["resource/account"], r["resource/service"]) for r in changed} == {
        ("def456", "apm_host")
    }
    assert _total(after) - _total(before) == Decimal("3")
    assert _total(after) == _billed(_august(charges))


def _by_day(rows: list[dict]) -> dict[tuple[str, str, str], Decimal]:
    return {
        (r["time/usage_start"][:10], r["resource/account"], r["resource/service"]): Decimal(
            r["cost/cost"]
        )
        for r in rows
    }


def _daily(charges: list[Charge]) -> dict[tuple[str, str, str], Decimal]:
    """Each day's own cost per organization and product, from the stand-in's charges."""
    return {(c.day, c.org, c.product): c.total for c in _august(charges)}


def test_estimated_cost_by_day_becomes_each_days_own_cost_and_a_restated_day_only_that_day(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Datadog's daily estimates are month to date; summed as they come, August would count
    each day once per day left in the month."""
    charges = august_charges()
    _keys(monkeypatch)
    with datadog_api(API_KEY, APP_KEY, charges, throttle_request=1) as api:
        _use(project, "datadog_estimated", api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        asked = [s for s in api.seen if s.status == 200]
        assert asked[0].path == "/api/v2/usage/estimated_cost"
        assert asked[0].query == {
            "start_date": ["2024-08-01"],
            "end_date": ["2024-08-31"],
            "view": ["sub-org"],
        }
        assert api.seen[0].status == 429 and api.seen[1].at - api.seen[0].at >= 1.0
        sent, daily = _by_day(before), _daily(charges)
        assert {k: v for k, v in sent.items() if k in daily} == daily
        # A product without cost on a day has a row of 0 there: its figure did not move.
        assert all(v == 0 for k, v in sent.items() if k not in daily)
        assert _total(before) == _billed(_august(charges))

        # Datadog restates 12 August's infrastructure hosts of def456: every later day's
        # month-to-date figure moves, but only 12 August's own cost changes.
        (index, charge) = next(
            (n, c)
            for n, c in enumerate(charges)
            if c.day == "2024-08-12" and c.org == "def456" and c.product == "infra_host"
        )
        charges[index] = dataclasses.replace(
            charge, on_demand=str(Decimal(charge.on_demand) + Decimal("0.37"))
        )
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [(r["time/usage_start"], r["resource/account"]) for r in changed + gone] == [
        ("2024-08-12T00:00:00Z", "def456")
    ] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("0.37")
    assert _total(after) == _billed(_august(charges))
    assert files_holding(project, API_KEY) == [] and files_holding(project, APP_KEY) == []


def test_a_refused_key_fails_the_month_naming_both_variables_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APPLICATION_KEY", "a-child-orgs-app-key")
    with datadog_api(API_KEY, APP_KEY, august_charges()) as api:
        _use(project, "datadog", api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 403" in said
    assert "environment variables DD_API_KEY and DD_APPLICATION_KEY" in said
    assert "the DD-API-KEY and DD-APPLICATION-KEY headers" in said
    assert "usage_read and billing_read" in said
    assert API_KEY not in said and "a-child-orgs-app-key" not in said
    assert files_holding(project, "a-child-orgs-app-key") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1


@pytest.mark.parametrize("preset", ["datadog", "datadog_estimated"])
def test_the_presets_are_what_a_user_could_write_in_anycost_yaml(preset: str) -> None:
    by_hand = HttpSource.model_validate({"connection": CONNECTION, **PRESETS[preset]})
    by_preset = HttpSource.model_validate({"connection": CONNECTION, "preset": preset})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.address.startswith("https://api.datadoghq.com/api/v2/usage/")
    assert by_hand.auth is not None
    assert by_hand.auth.names == ["DD_API_KEY", "DD_APPLICATION_KEY"]
    assert by_hand.where == {"charge_type": ["total"]}
    # A site other than US1 is `base_url` alone.
    eu = HttpSource.model_validate(
        {"connection": CONNECTION, "preset": preset, "base_url": "https://api.datadoghq.eu"}
    )
    assert eu.address.startswith("https://api.datadoghq.eu/api/v2/usage/")


def test_datadog_is_connected_from_scratch_with_both_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("ANYCOST_CONFIG", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    _keys(monkeypatch)
    charges = august_charges()
    with datadog_api(API_KEY, APP_KEY, charges) as api:
        command = ["add-source", "--vendor", "datadog", "--base-url", api.url, "--month", "2024-08"]
        assert main([*command, "--write"]) == 0
        said = printed_words(capsys)
        assert "DD_API_KEY" in said and "DD_APPLICATION_KEY" in said
        assert API_KEY not in said and APP_KEY not in said
        written = yaml.safe_load((tmp_path / "anycost.yaml").read_text())
        assert written["sources"]["datadog"]["preset"] == "datadog"
        assert main(["run", "2024-08"]) == 0
        assert "2024-08: sent" in printed_words(capsys)
    rows = SandboxStore(tmp_path / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert _total(rows) == _billed(_august(charges))
